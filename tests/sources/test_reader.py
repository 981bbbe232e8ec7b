from __future__ import annotations

import gzip

import pytest
import zstandard
from helpers import write

from backfill.contract import CsvOptions
from backfill.errors import InputError
from backfill.sources.files import InputReader
from backfill.sources.resolve import resolve_inputs

CSV = "id,name,zip\n" + "".join(f"{i},name {i},{i:05d}\n" for i in range(5000))


def read_all(path, opts=None, block=4096):
    opts = opts or CsvOptions()
    [inp] = resolve_inputs([str(path)], None)
    reader = InputReader(inp, opts, block_bytes=block)
    frames, rejects = [], []
    for chunk in reader.chunks():
        frames.append(chunk.frame)
        rejects += chunk.rejects
    return reader, frames, rejects


def test_streams_in_blocks_with_continuous_rows_and_lines(tmp_path):
    path = write(tmp_path / "p.csv", CSV)
    reader, frames, rejects = read_all(path)
    assert reader.columns == ["id", "name", "zip"]
    assert len(frames) > 10 and not rejects
    rows = [r for f in frames for r in f.select("__row", "__line", "zip").rows()]
    assert rows[0] == (0, 2, "00000") and rows[-1] == (4999, 5001, "04999")
    assert [r[0] for r in rows] == list(range(5000))


@pytest.mark.parametrize("suffix, compress", [
    (".csv.gz", gzip.compress), (".csv.zst", lambda b: zstandard.ZstdCompressor().compress(b))])
def test_compressed_inputs(tmp_path, suffix, compress):
    path = write(tmp_path / f"p{suffix}", compress(CSV.encode()))
    _, frames, _ = read_all(path)
    assert sum(f.height for f in frames) == 5000


def test_truncated_gzip_stops_with_the_file_named(tmp_path):
    data = gzip.compress(CSV.encode() * 20)
    path = write(tmp_path / "p.csv.gz", data[: len(data) // 2])
    with pytest.raises(InputError) as err:
        read_all(path)
    assert "p.csv.gz" in str(err.value) and "truncated" in str(err.value)


def test_bom_is_not_part_of_the_first_column(tmp_path):
    path = write(tmp_path / "p.csv", b"\xef\xbb\xbfid,name\n1,a\n")
    reader, frames, _ = read_all(path)
    assert reader.columns == ["id", "name"]


def test_latin1_is_transcoded_and_crlf_handled(tmp_path):
    path = write(tmp_path / "p.csv", "id,name\r\n1,José\r\n2,Zoë\r\n".encode("latin-1"))
    _, frames, rejects = read_all(path, CsvOptions(encoding="latin-1"))
    assert frames[0]["name"].to_list() == ["José", "Zoë"] and not rejects


def test_latin1_undeclared_rejects_rows_not_the_file(tmp_path):
    path = write(tmp_path / "p.csv", "id,name\n1,José\n2,Ann\n".encode("latin-1"))
    _, frames, rejects = read_all(path)
    assert frames[0]["name"].to_list() == ["Ann"]
    assert rejects[0].line == 2 and rejects[0].stage == "read"


def test_duplicate_header_names_are_renamed_with_a_warning(tmp_path):
    path = write(tmp_path / "p.csv", "id,email,email\n1,a,b\n")
    reader, frames, _ = read_all(path)
    assert reader.columns == ["id", "email", "email_2"]
    assert "appears more than once" in reader.warnings[0]


def test_a_quoted_field_longer_than_a_block(tmp_path):
    big = "x\n" * 10000
    path = write(tmp_path / "p.csv", f'id,name\n1,"{big}"\n2,b\n')
    _, frames, rejects = read_all(path)
    rows = [r for f in frames for r in f.select("__row", "__line", "id").rows()]
    assert rows == [(0, 2, "1"), (1, 10003, "2")] and not rejects


def test_empty_and_header_only_files(tmp_path):
    empty = write(tmp_path / "e.csv", b"")
    reader, frames, _ = read_all(empty)
    assert frames == [] and "is empty" in reader.warnings[0]
    header = write(tmp_path / "h.csv", b"id,name\n")
    reader, frames, _ = read_all(header)
    assert reader.columns == ["id", "name"] and sum(f.height for f in frames) == 0


def test_globs_and_missing_inputs(tmp_path):
    for n in ("b", "a"):
        write(tmp_path / f"{n}.csv", "id\n1\n")
    inputs = resolve_inputs([str(tmp_path / "*.csv")], None)
    assert [i.path for i in inputs] == [str(tmp_path / "a.csv"), str(tmp_path / "b.csv")]
    with pytest.raises(InputError, match="no file matches"):
        resolve_inputs([str(tmp_path / "*.parquet")], None)
    with pytest.raises(InputError, match="no such file"):
        resolve_inputs([str(tmp_path / "nope.csv")], None)


def test_parquet_with_nested_columns(tmp_path):
    import polars as pl

    path = tmp_path / "p.parquet"
    pl.DataFrame({"id": ["1", "2"], "meta": [{"a": 1}, {"a": 2}]}).write_parquet(path)
    reader, frames, _ = read_all(path)
    assert reader.columns == ["id", "meta"]
    assert frames[0].select("__row", "id").rows() == [(0, "1"), (1, "2")]


def test_rejects_in_later_blocks_carry_their_absolute_lines(tmp_path):
    lines = CSV.splitlines(keepends=True)
    lines[3001] = "3000,too,many,fields\n"  # line 3002 of the file, far past the first block
    path = write(tmp_path / "p.csv", "".join(lines))
    _, frames, rejects = read_all(path)
    assert [(r.row, r.line, r.stage) for r in rejects] == [(3000, 3002, "read")]
    rows = [r for f in frames for r in f.select("__row", "__line").rows()]
    assert rows[2999:3001] == [(2999, 3001), (3001, 3003)]


@pytest.mark.parametrize("name, pack", [
    ("gzip-named.csv", gzip.compress),
    ("zstd-named.csv", lambda b: zstandard.ZstdCompressor().compress(b)),
    ("export.csv.bz2", __import__("bz2").compress),
    ("bzip2-named.txt", __import__("bz2").compress),
    ("plain-named.csv.gz", lambda b: b),
])
def test_compression_is_told_by_the_bytes_not_the_name(tmp_path, name, pack):
    path = tmp_path / name
    path.write_bytes(pack(CSV.encode()))
    reader, frames, rejects = read_all(path)
    assert reader.columns == ["id", "name", "zip"] and not rejects
    assert sum(f.height for f in frames) == 5000


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_a_header_with_another_delimiter_is_read_with_it_and_said(tmp_path, delimiter):
    path = write(tmp_path / "semi.csv", CSV.replace(",", delimiter))
    reader, frames, rejects = read_all(path)
    assert reader.columns == ["id", "name", "zip"] and not rejects
    assert frames[0]["zip"][1] == "00001"
    assert any("set source.csv.delimiter" in w for w in reader.warnings)


def test_a_declared_delimiter_is_never_second_guessed(tmp_path):
    path = write(tmp_path / "one.csv", "a;b\n1;2\n")
    reader, frames, _ = read_all(path, CsvOptions(delimiter=",", detect=False))
    assert reader.columns == ["a;b"] and not reader.warnings


def test_an_ndjson_first_block_is_parsed_once_for_its_columns_and_its_rows(tmp_path, monkeypatch):
    """The plan checks the columns with the reader the first reading then reads on; other
    inputs are opened again (their readers are not all kept while the first is read)."""
    import backfill
    from backfill.sources import files

    lines = "".join(f'{{"user_id":"u{i}","name":"seen","at":{1_700_000_000 + i}}}\n'
                    for i in range(300))
    inputs = [write(tmp_path / f"e{n}.ndjson", lines) for n in range(2)]
    mapping = write(tmp_path / "m.yaml", "version: 1\noperations:\n  - {type: person, action: "
                    "event, identifiers: {id: user_id}, name: name, timestamp: at}\n")
    first_blocks = []
    real = files.parse_ndjson_block
    monkeypatch.setattr(files, "parse_ndjson_block", lambda block, name, *a, **k: (
        first_blocks.append(name), real(block, name, *a, **k))[1])
    report = backfill.validate(mapping, inputs)
    assert report.rows_read == 600 and report.operations_packed == 600
    assert sorted(first_blocks) == sorted([str(inputs[0]), str(inputs[1]), str(inputs[1])])


def test_a_file_replaced_after_the_plan_is_read_anew(tmp_path):
    """The plan's reader holds the old file open: the first reading must not use it then (a
    checkpoint fingerprints the file at the path, and a resume would skip the wrong rows)."""
    from backfill.api import plan as make_plan
    from backfill.flow import batches
    from backfill.runfiles.tally import Tally

    path = write(tmp_path / "e.ndjson", '{"user_id":"u1","name":"old","at":1700000000}\n')
    mapping = write(tmp_path / "m.yaml", "version: 1\noperations:\n  - {type: person, action: "
                    "event, identifiers: {id: user_id}, name: name, timestamp: at}\n")
    plan = make_plan(mapping, path)
    assert plan.readers[0].current()
    replaced = write(tmp_path / "new.ndjson", "".join(
        f'{{"user_id":"u{i}","name":"new","at":1700000000}}\n' for i in range(3)))
    replaced.replace(path)
    assert not plan.readers[0].current()
    bodies = b"".join(batch.body for batch in batches(plan, Tally()))
    assert bodies.count(b'"name":"new"') == 3 and b'"name":"old"' not in bodies


@pytest.mark.parametrize("fmt", ["csv", "ndjson", "parquet"])
def test_form_submissions_are_read_in_smaller_blocks(tmp_path, monkeypatch, fmt):
    """Each form submission is a request of its own, held as an object until it is sent: forms
    are read in smaller blocks (and Parquet slices) than other operations, every row still
    read once."""
    import polars as pl

    import backfill
    from backfill.mapping.encode import Encoder
    from backfill.sources import files

    monkeypatch.setattr(files, "REQUEST_A_ROW_BLOCK_BYTES", 2048)
    monkeypatch.setattr(files, "BLOCK_BYTES", 8192)
    monkeypatch.setattr(files, "PARQUET_ROWS", 400)
    heights: list[int] = []
    encode = Encoder.encode
    monkeypatch.setattr(Encoder, "encode", lambda self, frame, *a: (
        heights.append(frame.height), encode(self, frame, *a))[1])
    table = pl.DataFrame({"id": [f"u{i}" for i in range(2000)],
                          "email": [f"a{i}@example.com" for i in range(2000)]})
    path = tmp_path / f"f.{fmt}"
    getattr(table, f"write_{fmt}")(path)
    forms = write(tmp_path / "forms.yaml", "version: 1\noperations:\n  - {type: form, action: "
                  "submit, form_id: {value: f1}, data: {id: id, email: email}}\n")
    people = write(tmp_path / "people.yaml", "version: 1\noperations:\n  - {type: person, "
                   "action: identify, identifiers: {id: id}, attributes: {email: email}}\n")
    largest = {}
    for name, mapping in (("forms", forms), ("people", people)):
        heights.clear()
        report = backfill.validate(mapping, str(path))
        assert report.rows_read == 2000 and sum(heights) == 2000
        largest[name] = max(heights)
    assert largest["forms"] * 3 < largest["people"], largest
