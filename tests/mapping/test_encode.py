from __future__ import annotations

import orjson
import polars as pl
import pytest

from backfill.contract import LINE, OPS_SCHEMA, ROW
from backfill.errors import MappingError
from backfill.mapping.config import parse_mapping
from backfill.mapping.encode import Encoder
from backfill.mapping.eventid import ulids


def mapping(ops: str):
    return parse_mapping("version: 1\noperations:\n" + ops, "m.yaml")


def frame(**cols):
    n = len(next(iter(cols.values())))
    return pl.DataFrame(cols).with_columns(
        pl.int_range(0, n, dtype=pl.Int64).alias(ROW),
        (pl.int_range(0, n, dtype=pl.Int64) + 2).alias(LINE))


def ops_of(encoded):
    return [orjson.loads(j) for j in encoded.ops["json"].to_list()]


IDENTIFY = """\
  - type: person
    action: identify
    identifiers: {id: user_id}
    timestamp: updated_at
    attributes:
      zip: zip
      seats: {column: seats, as: int}
      ratio: {column: ratio, as: float}
      vip: {column: vip, as: bool}
      created_at: {column: signup, as: timestamp}
      plan: {value: premium}
"""


def test_identify_with_conversions_and_empty_values_omitted():
    enc = Encoder(mapping(IDENTIFY))
    out = enc.encode(frame(user_id=["1", "2"], updated_at=["1700000000", ""], zip=["02134", ""],
                           seats=["3", ""], ratio=["0.5", ""], vip=["yes", ""],
                           signup=["2024-01-02T00:00:00Z", ""]), "f.csv")
    assert not out.rejects
    assert ops_of(out) == [
        {"type": "person", "identifiers": {"id": "1"}, "action": "identify",
         "timestamp": 1700000000,
         "attributes": {"zip": "02134", "seats": 3, "ratio": 0.5, "vip": True,
                        "created_at": 1704153600, "plan": "premium"}},
        {"type": "person", "identifiers": {"id": "2"}, "action": "identify",
         "attributes": {"plan": "premium"}},
    ]


@pytest.mark.parametrize("value, expected", [
    ("1700000000", 1700000000), ("1700000000123", 1700000000), ("2024-01-02", 1704153600),
    ("2024-01-02 03:04:05", 1704164645), ("2024-01-02T03:04:05+02:00", 1704157445),
    ("2024-01-02T03:04:05.250Z", 1704164645),
])
def test_timestamps(value, expected):
    enc = Encoder(mapping("  - {type: person, action: identify, identifiers: {id: u}, "
                          "timestamp: t}\n"))
    assert ops_of(enc.encode(frame(u=["1"], t=[value]), "f"))[0]["timestamp"] == expected


@pytest.mark.parametrize("column, value, reason", [
    ("seats", "abc", "column 'seats' value \"abc\" is not an int"),
    ("ratio", "nan", "column 'ratio' value \"nan\" is not a float"),
    ("vip", "maybe", "column 'vip' value \"maybe\" is not a bool"),
    ("signup", "2023-02-30", "column 'signup' value \"2023-02-30\" is not a timestamp"),
])
def test_a_value_that_cannot_be_converted_rejects_its_row(column, value, reason):
    enc = Encoder(mapping(IDENTIFY))
    cols = dict(user_id=["1", "2"], updated_at=["", ""], zip=["", ""], seats=["", ""],
                ratio=["", ""], vip=["", ""], signup=["", ""])
    cols[column] = [value, ""]
    out = enc.encode(frame(**cols), "f.csv")
    assert [r.row for r in out.rejects] == [0]
    assert reason in out.rejects[0].reason and out.rejects[0].stage == "mapping"
    assert out.rejects[0].record[column] == value and out.rejects[0].line == 2
    assert out.ops["__row"].to_list() == [1]


@pytest.mark.parametrize("rows", [[0, 1, 2], [5, 9, 7]])
def test_operations_come_in_row_then_mapping_order(rows):
    enc = Encoder(mapping("  - {type: person, action: identify, identifiers: {id: u}}\n"
                          "  - {type: object, action: identify, identifiers: "
                          "{object_type_id: {value: '1'}, object_id: o}}\n"))
    chunk = frame(u=["a", "", "c"], o=["x", "y", "z"]).with_columns(pl.Series(ROW, rows))
    out = enc.encode(chunk, "f")  # the second row has no person: it is rejected whole
    kept = sorted(r for i, r in enumerate(rows) if i != 1)
    assert out.ops.select("__row", "__op").rows() == [(r, op) for r in kept for op in (0, 1)]


def test_a_frame_in_pieces_some_left_empty_is_encoded_with_its_rejects():
    # a boolean filter of a frame in pieces (an NDJSON block's) leaves empty pieces; polars 2.1
    # panicked formatting a reject reason over such a frame
    pieces = [pl.DataFrame({"user_id": [f"{i}a", f"{i}b", f"{i}c"],
                            "t": ["1700000000"] + ["2023-02-30" if i in (1, 3) else "1700000001"] * 2})
              for i in range(5)]
    chunked = pl.concat(pieces, rechunk=False).with_columns(
        pl.int_range(0, 15, dtype=pl.Int64).alias(ROW), pl.lit(None, pl.Int64).alias(LINE))
    frame = chunked.filter(pl.Series([r in (4, 5, 10, 11, 13, 14) for r in range(15)]))
    assert [len(piece) for piece in frame.get_column("t").get_chunks()] == [0, 2, 0, 2, 2]
    enc = Encoder(mapping("  - {type: person, action: identify, identifiers: {id: user_id}, "
                          "timestamp: {column: t, as: timestamp}}\n"))
    out = enc.encode(frame, "f")
    assert [(r.row, r.reason) for r in out.rejects] == [
        (row, "timestamp: column 't' value \"2023-02-30\" is not a timestamp")
        for row in (4, 5, 10, 11)]
    assert out.ops["__row"].to_list() == [13, 14]


def test_rest_exclude_and_nulls_clear():
    enc = Encoder(mapping("""\
  - type: object
    action: identify
    identifiers: {object_type_id: {value: "1"}, object_id: cid}
    rest: true
    exclude: [secret]
    nulls: clear
"""))
    out = enc.encode(frame(cid=["acme"], name=[""], secret=["x"], size=["10"]), "f")
    assert ops_of(out)[0]["attributes"] == {"name": "", "size": "10"}


def test_identifier_fallbacks_send_exactly_one():
    enc = Encoder(mapping("  - {type: person, action: identify, identifiers: {id: u, email: e}}\n"))
    out = enc.encode(frame(u=["1", "", ""], e=["a@x", "b@x", ""]), "f")
    assert [o["identifiers"] for o in ops_of(out)] == [{"id": "1"}, {"email": "b@x"}]
    assert out.rejects[0].row == 2 and "no identifier" in out.rejects[0].reason


def test_relationships_and_when():
    enc = Encoder(mapping("""\
  - type: person
    action: add_relationships
    identifiers: {id: u}
    relationships:
      - identifiers: {object_type_id: {value: "1"}, object_id: c}
        attributes: {role: role}
  - type: person
    action: event
    when: ev
    identifiers: {id: u}
    name: ev
    timestamp: now
    dedupe_id: none
"""))
    out = enc.encode(frame(u=["1", "2"], c=["acme", ""], role=["admin", ""], ev=["", "buy"]), "f")
    assert ops_of(out) == [
        {"type": "person", "identifiers": {"id": "1"}, "action": "add_relationships",
         "cio_relationships": [{"identifiers": {"object_type_id": "1", "object_id": "acme"},
                                "relationship_attributes": {"role": "admin"}}]},
        {"type": "person", "identifiers": {"id": "2"}, "action": "event", "name": "buy"},
    ]
    assert out.ops.select("__row", "__op").rows() == [(0, 0), (1, 1)]


def test_relationships_present_in_a_row_are_listed_in_order_with_their_empty_values_left_out():
    enc = Encoder(mapping("""\
  - type: object
    action: add_relationships
    identifiers: {object_type_id: {value: "1"}, object_id: o}
    relationships:
      - identifiers: {id: a, email: ae}
        attributes: {role: ar, since: {column: s, as: int}}
      - identifiers: {id: b}
        attributes: {role: br}
"""))
    null = pl.Series([None] * 4, dtype=pl.String)
    out = enc.encode(frame(o=["x", "y", "z", "w"], a=["1", "", "3", ""], ae=["", "e@x", "", ""],
                           ar=["admin", "", "", ""], s=["7", "", "", ""], b=["9", "8", "", ""],
                           br=null), "f")
    assert [o["cio_relationships"] for o in ops_of(out)] == [
        [{"identifiers": {"id": "1"}, "relationship_attributes": {"role": "admin", "since": 7}},
         {"identifiers": {"id": "9"}, "relationship_attributes": {}}],
        [{"identifiers": {"email": "e@x"}, "relationship_attributes": {}},
         {"identifiers": {"id": "8"}, "relationship_attributes": {}}],
        [{"identifiers": {"id": "3"}, "relationship_attributes": {}}],
    ]
    assert out.ops["__row"].to_list() == [0, 1, 2]  # the last row has none: nothing to add


def test_nulls_clear_keeps_a_relationship_attribute_named_like_an_identifier():
    # its null is sent, as `nulls: clear` says, though the identifier of that name is left out
    enc = Encoder(mapping("""\
  - type: object
    action: identify
    identifiers: {object_type_id: {value: "1"}, object_id: o}
    nulls: clear
    relationships:
      - identifiers: {id: pid, email: pemail}
        attributes: {email: ae}
"""))
    out = enc.encode(frame(o=["acme"], pid=["7"], pemail=pl.Series([None], dtype=pl.String),
                           ae=pl.Series([None], dtype=pl.String)), "f")
    assert ops_of(out)[0]["cio_relationships"] == [
        {"identifiers": {"id": "7"}, "relationship_attributes": {"email": None}}]


def test_event_ids_are_deterministic_ulids():
    enc = Encoder(mapping("  - {type: person, action: event, identifiers: {id: u}, name: n, "
                          "timestamp: t}\n"))
    df = frame(u=["1", "1"], n=["buy", "buy"], t=["1700000000", "1700000001"])
    first = ops_of(enc.encode(df, "f"))
    again = ops_of(Encoder(enc.mapping).encode(df, "f"))
    assert first == again
    assert first[0]["id"] != first[1]["id"] and len(first[0]["id"]) == 26
    assert first[0]["id"].startswith("01HF")  # the ULID's time is the event's
    x, no_time = pl.Series(["x", "x"]), pl.Series([None, None], dtype=pl.Int64)
    a, b = ulids(x, no_time, pl.Series([1, 2])).to_list()
    assert a != b  # no timestamp: the row counts


@pytest.mark.parametrize("scheme", ["auto", "auto-v1"])
def test_each_id_scheme_hashes_the_event_as_sent(scheme):
    """`auto` and `auto-v1` hash the same JSON (the event without its id), each its own way."""
    enc = Encoder(mapping("  - {type: person, action: event, identifiers: {id: u}, name: n, "
                          f"timestamp: t, dedupe_id: {scheme}}}\n"))
    [op] = ops_of(enc.encode(frame(u=["1"], n=["buy"], t=["1700000000"]), "f"))
    sent = orjson.dumps({k: v for k, v in op.items() if k != "id"})
    assert op["id"] == ulids(pl.Series([sent.decode()]), pl.Series([1700000000]), pl.Series([0]),
                             scheme).item()


def test_a_dedupe_id_that_is_not_text_is_a_mapping_error():
    with pytest.raises(MappingError, match="dedupe_id is auto, auto-v1, none or a column"):
        mapping("  - {type: person, action: event, identifiers: {id: u}, name: n, dedupe_id: 3}\n")


@pytest.mark.parametrize("cols, reason", [
    (dict(u=["u" * 151], bio=["x"], n=["e"]), "identifier 'id' is 151 bytes; the limit is 150"),
    (dict(u=["1"], bio=["é" * 501], n=["e"]),
     "attribute 'bio' value is 1002 bytes; the limit is 1000"),
    (dict(u=["1"], bio=["x"], n=["e" * 101]), "event name is 101 bytes; the limit is 100"),
])
def test_limits_reject_with_field_size_and_limit(cols, reason):
    enc = Encoder(mapping("  - {type: person, action: event, identifiers: {id: u}, name: n, "
                          "timestamp: now, attributes: {bio: bio}}\n"))
    out = enc.encode(frame(**cols), "f")
    assert out.rejects[0].reason == reason and out.rejects[0].stage == "limits"
    assert out.ops.height == 0


def test_operation_over_32000_bytes_is_rejected():
    attrs = "{" + ", ".join(f"a{i}: c{i}" for i in range(40)) + "}"
    enc = Encoder(mapping(f"  - {{type: person, action: identify, identifiers: {{id: u}}, "
                          f"attributes: {attrs}}}\n"))
    cols = {f"c{i}": ["x" * 900] for i in range(40)}
    out = enc.encode(frame(u=["1"], **cols), "f")
    assert out.rejects[0].reason.startswith("the operation is 36")
    assert out.rejects[0].reason.endswith("bytes; the limit is 32000")


def test_more_than_300_attributes_is_rejected():
    enc = Encoder(mapping("  - {type: person, action: identify, identifiers: {id: u}, rest: true}\n"))
    cols = {f"c{i}": ["1"] for i in range(301)}
    out = enc.encode(frame(u=["1"], **cols), "f")
    assert out.rejects[0].reason == "301 attributes; the limit is 300"


def test_json_values_are_embedded_and_bad_json_rejected():
    enc = Encoder(mapping("  - {type: person, action: identify, identifiers: {id: u}, "
                          "attributes: {meta: {column: m, as: json}}}\n"))
    out = enc.encode(frame(u=["1", "2", "3"], m=['{"a": [1, 2]}', "{bad", ""]), "f")
    assert [o.get("attributes") for o in ops_of(out)] == [{"meta": {"a": [1, 2]}}, None]
    assert out.rejects[0].row == 1 and "is not JSON" in out.rejects[0].reason


def test_strings_with_quotes_and_unicode_survive_byte_for_byte():
    enc = Encoder(mapping("  - {type: person, action: identify, identifiers: {id: u}, "
                          "attributes: {n: n}}\n"))
    tricky = 'a "quoted", \\ back\nslash ,"k":null, 日本 \U0001f600'
    out = enc.encode(frame(u=["1"], n=[tricky]), "f")
    assert ops_of(out)[0]["attributes"]["n"] == tricky


def test_an_attribute_named_timestamp_is_not_the_events_time():
    enc = Encoder(mapping("  - {type: person, action: event, identifiers: {id: u}, name: n, "
                          "timestamp: now, attributes: {timestamp: t}}\n"))
    ids = [o["id"] for o in ops_of(enc.encode(frame(u=["1", "1"], n=["e", "e"],
                                                    t=["5", "5"]), "f"))]
    assert ids[0] != ids[1]  # no event timestamp: the row number makes them differ
    assert all(i.startswith("0000000000") for i in ids)  # and the ULID's time part is zero


def test_nulls_clear_sends_null_for_attributes_named_like_operation_keys():
    enc = Encoder(mapping("  - {type: person, action: identify, identifiers: {id: u}, "
                          "nulls: clear, attributes: {platform: p, timestamp: t, id: i}}\n"))
    cols = {"u": pl.Series(["1"]), **{c: pl.Series([None], dtype=pl.Int64) for c in "pti"}}
    out = enc.encode(frame(**cols), "f")
    assert ops_of(out)[0]["attributes"] == {"platform": None, "timestamp": None, "id": None}


def test_nulls_clear_keeps_a_null_named_like_a_relationship_identifier():
    enc = Encoder(mapping("""\
  - type: object
    action: identify
    identifiers: {object_type_id: {value: "1"}, object_id: o}
    nulls: clear
    attributes: {email: e, name: n}
    relationships:
      - identifiers: {id: pid, email: pemail}
"""))
    null = pl.Series([None, None], dtype=pl.String)
    out = enc.encode(frame(o=["acme", "beta"], e=null, n=null, pid=["7", None],
                           pemail=pl.Series([None, "p@x"], dtype=pl.String)), "f")
    assert [(o["attributes"], o["cio_relationships"]) for o in ops_of(out)] == [
        ({"email": None, "name": None}, [{"identifiers": {"id": "7"}}]),
        ({"email": None, "name": None}, [{"identifiers": {"email": "p@x"}}]),
    ]


def test_embedded_relationships_keep_their_json_values():
    enc = Encoder(mapping("""\
  - type: object
    action: identify
    identifiers: {object_type_id: {value: "1"}, object_id: o}
    attributes: {meta: {column: am, as: json}}
    relationships:
      - identifiers: {id: pid, email: pemail}
        attributes: {meta: {column: m, as: json}, role: r}
"""))
    out = enc.encode(frame(o=["acme"], am=['{"x": null}'], pid=pl.Series([None], dtype=pl.String),
                           pemail=["a@x"], m=['{"k": [1, null]}'],
                           r=pl.Series([None], dtype=pl.String)), "f")
    assert ops_of(out) == [
        {"type": "object", "identifiers": {"object_type_id": "1", "object_id": "acme"},
         "action": "identify", "attributes": {"meta": {"x": None}},
         "cio_relationships": [{"identifiers": {"email": "a@x"},
                                "relationship_attributes": {"meta": {"k": [1, None]}}}]}]


@pytest.mark.parametrize("nulls, expected", [
    ("skip", {"profile": {"a": 1, "tags": [{"t": "x"}, {}]}, "b": 2}),
    ("clear", {"profile": {"a": 1, "b": None, "tags": [{"t": "x"}, {"t": None}]}, "b": 2}),
])
def test_nested_values_are_cleaned_in_their_own_text(nulls, expected):
    enc = Encoder(mapping("  - {type: person, action: identify, identifiers: {id: u}, "
                          f"nulls: {nulls}, attributes: {{profile: p, b: b}}}}\n"))
    profile = pl.Series([{"a": 1, "b": None, "tags": [{"t": "x"}, {"t": None}]}])
    out = enc.encode(frame(u=["1"], p=profile, b=[2]), "f")
    assert ops_of(out)[0]["attributes"] == expected


def test_a_plain_dataframe_is_encoded_with_rows_numbered_from_0():
    mapping = parse_mapping("version: 1\noperations:\n  - type: person\n    action: identify\n"
                            "    identifiers: {id: user_id}\n    attributes: {n: {column: n, as: int}}\n")
    chunk = Encoder(mapping).encode(pl.DataFrame({"user_id": ["a", "b"], "n": ["1", "x"]}))
    assert dict(chunk.ops.schema) == OPS_SCHEMA  # the stage contract's operations frame
    assert chunk.ops.get_column("__row").to_list() == [0]
    assert orjson.loads(chunk.ops.get_column("json")[0]) == {
        "type": "person", "identifiers": {"id": "a"}, "action": "identify",
        "attributes": {"n": 1}}
    [reject] = chunk.rejects
    assert (reject.row, reject.line, reject.stage) == (1, None, "mapping")


def test_binary_columns_are_sent_in_hex_instead_of_stopping_the_json_writer(tmp_path):
    import backfill

    frame = pl.DataFrame({"id": ["u1"], "raw": [b"\x0a\xff"]})
    dump = tmp_path / "bodies.ndjson"
    backfill.validate({"version": 1, "operations": [{"type": "person", "action": "identify",
                                                     "identifiers": {"id": "id"}, "rest": True}]},
                      frame, None, dump)
    [op] = orjson.loads(dump.read_bytes())["batch"]
    assert op["attributes"] == {"raw": "0aff"}
