"""Writes the bad-input corpus beside this file: `python tests/corpus/make.py`.

Each file is small; the 10 MB field and the truncated .gz are written by the test itself.
The expectations for each file are in tests/test_corpus.py.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl
import zstandard

HERE = Path(__file__).parent
HEAD = "user_id,email,name,seats,signup,event\n"
GOOD = ["u1,a@x.com,Ann,3,2024-01-02,buy", "u2,b@x.com,Bob,4,2024-01-03,view"]


def csv(name: str, *rows: str, head: str = HEAD, encoding: str = "utf-8",
        newline: str = "\n") -> None:
    text = head.replace("\n", newline) + "".join(r + newline for r in rows)
    (HERE / name).write_bytes(text.encode(encoding))


def raw(name: str, data: bytes) -> None:
    (HERE / name).write_bytes(data)


def main() -> None:
    csv("clean.csv", *GOOD)
    raw("invalid_utf8.csv", HEAD.encode() + GOOD[0].encode() + b"\nu2,b@x.com,B\xff\xfeb,4,"
        b"2024-01-03,view\n" + GOOD[1].replace("u2", "u3").encode() + b"\n")
    csv("latin1_declared.csv", "u1,a@x.com,José,3,2024-01-02,buy", "u2,b@x.com,Zoë,4,,",
        encoding="latin-1")
    csv("latin1_undeclared.csv", "u1,a@x.com,José,3,2024-01-02,buy", "u2,b@x.com,Bob,4,,",
        encoding="latin-1")
    raw("bom.csv", b"\xef\xbb\xbf" + (HEAD + "\n".join(GOOD) + "\n").encode())
    csv("crlf.csv", *GOOD, newline="\r\n")
    csv("quoted_newlines.csv", 'u1,a@x.com,"Ann\nof\nGreen Gables",3,2024-01-02,buy', GOOD[1])
    csv("quotes.csv", 'u1,a@x.com,"Ann ""the"" Great, Jr.",3,2024-01-02,buy', GOOD[1])
    csv("nul_bytes.csv", "u1,a@x.com,A\x00nn,3,2024-01-02,buy", GOOD[1])
    raw("empty.csv", b"")
    csv("header_only.csv")
    csv("duplicate_columns.csv", "u1,a@x.com,Ann,3,2024-01-02,buy,x",
        head="user_id,email,name,seats,signup,event,name\n")
    csv("too_many_fields.csv", GOOD[0], "u9,c@x.com,Cy,5,2024-01-04,buy,EXTRA,MORE", GOOD[1])
    csv("too_few_fields.csv", GOOD[0], "u9,c@x.com", GOOD[1])
    csv("blank_lines.csv", GOOD[0], "", "", GOOD[1])
    csv("unterminated_quote.csv", GOOD[0], 'u9,c@x.com,"Cy,5,2024-01-04,buy', GOOD[1])
    csv("stray_quote.csv", GOOD[0], 'u9,c@x.com,"Cy"x,5,2024-01-04,buy', GOOD[1])
    csv("long_identifier.csv", GOOD[0], "u" + "9" * 200 + ",c@x.com,Cy,5,2024-01-04,buy")
    csv("long_value.csv", GOOD[0], "u9,c@x.com," + "C" * 1001 + ",5,2024-01-04,buy")
    csv("int_on_text.csv", GOOD[0], "u9,c@x.com,Cy,five,2024-01-04,buy")
    csv("impossible_dates.csv", GOOD[0], "u9,c@x.com,Cy,5,2024-02-30,buy",
        "u8,d@x.com,Di,5,2024-13-01,buy")
    csv("epoch_millis.csv", "u1,a@x.com,Ann,3,1704153600123,buy")
    csv("empty_identifier.csv", GOOD[0], ",c@x.com,Cy,5,2024-01-04,buy")
    csv("long_event_name.csv", GOOD[0], "u9,c@x.com,Cy,5,2024-01-04," + "e" * 101)
    wide_head = "user_id," + ",".join(f"a{i}" for i in range(301)) + "\n"
    csv("many_attributes.csv", "u1," + ",".join("v" for _ in range(301)),
        "u2," + ",".join("" for _ in range(301)), head=wide_head)
    raw("gzipped.csv.gz", gzip.compress((HEAD + "\n".join(GOOD) + "\n").encode(), mtime=0))
    raw("zstd.csv.zst", zstandard.ZstdCompressor().compress((HEAD + "\n".join(GOOD) + "\n")
                                                            .encode()))
    ok = json.dumps({"user_id": "u1", "email": "a@x.com", "name": "Ann", "seats": 3,
                     "signup": "2024-01-02", "event": "buy"})
    raw("ndjson_arrays.ndjson", f'{ok}\n["u2", "b@x.com"]\n{ok.replace("u1", "u3")}\n'.encode())
    raw("ndjson_numbers.ndjson", f"{ok}\n42\n\"text\"\nnull\n".encode())
    raw("ndjson_broken.ndjson", f'{ok}\n{{"user_id": "u2", "email": \n'.encode())
    raw("ndjson_invalid_utf8.ndjson", ok.encode() + b'\n{"user_id": "u2", "name": "B\xffb"}\n')
    pl.DataFrame({"user_id": ["u1", "u2"], "email": ["a@x.com", "b@x.com"],
                  "name": [{"first": "Ann", "tags": ["a", "b"]}, {"first": "Bob", "tags": []}],
                  "seats": [3, None], "signup": ["2024-01-02", None], "event": ["buy", None]}
                 ).write_parquet(HERE / "nested.parquet")
    (HERE / "people.yaml").write_text("""\
version: 1
operations:
  - type: person
    action: identify
    identifiers: {id: user_id}
    attributes:
      email: email
      name: name
      seats: {column: seats, as: int}
      created_at: {column: signup, as: timestamp}
  - type: person
    action: event
    when: event
    identifiers: {id: user_id}
    name: event
    timestamp: signup
""")
    (HERE / "latin1.yaml").write_text((HERE / "people.yaml").read_text().replace(
        "version: 1\n", "version: 1\nsource:\n  csv: {encoding: latin-1}\n"))
    (HERE / "wide.yaml").write_text("""\
version: 1
operations:
  - {type: person, action: identify, identifiers: {id: user_id}, rest: true}
""")
    (HERE / "missing_columns.yaml").write_text((HERE / "people.yaml").read_text().replace(
        "email: email", "email: e_mail").replace("name: name", "name: full_name"))
    (HERE / "yaml_syntax_error.yaml").write_text("version: 1\noperations:\n  - type: person\n"
                                                 "    action: [identify\n")


if __name__ == "__main__":
    main()
