"""Memory is bounded by input shape, not input size: a record longer than
`source.max_record_bytes` refuses the input with its line and byte offset (a decompression bomb
of one long line, /dev/zero, a 200 MB CSV line), with peak RSS well under 1 GB; a flood of
blank lines is skipped as lines, not parsed as rows."""

from __future__ import annotations

import subprocess
import sys

import pytest
import zstandard
from helpers import ROOT, write

from backfill.errors import InputError
from backfill.sources.parse import CsvLayout, parse_csv_block
from backfill.sources.parse_ndjson import parse_ndjson_block
from backfill.sources.streams import blocks

MAPPING = ("version: 1\noperations:\n  - type: person\n    action: identify\n"
           "    identifiers: {id: user_id}\n")


def pieces(*parts: bytes):
    return iter([(p, False) for p in parts])


def test_a_record_over_the_limit_refuses_with_its_line_and_offset():
    data = [b"a\nbb\n", b"x" * 5000, b"\nlast\n"]
    with pytest.raises(InputError, match=r"record at line 3 \(byte 5 of the decompressed "
                                         r"text\) is longer than 4,096 bytes"):
        list(blocks(pieces(*data), None, 1024, longest=4096, name="in.csv"))


def test_records_under_the_limit_are_cut_as_before():
    data = [b"a\n" + b"y" * 3000 + b"\n", b"z" * 3000 + b"\nend\n"]
    out = b"".join(b for b, _ in blocks(pieces(*data), None, 1024, longest=8192))
    assert out == b"".join(data)


def test_an_open_quote_longer_than_the_limit_is_cut_at_a_newline_then():
    data = [b'a,"open\n' + b"q\n" * 3000]
    got = [b for b, _ in blocks(pieces(*data), b'"', 1024, longest=4096)]
    assert b"".join(got) == data[0] and all(len(b) <= 4096 for b in got)


PEAK = ("import resource, subprocess, sys; done = subprocess.run(sys.argv[1:]); "
        "print(f'peak_kb={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}', "
        "file=sys.stderr); sys.exit(done.returncode)")


def validate(tmp_path, *args: str) -> subprocess.CompletedProcess:
    """`backfill validate` in a process of its own, through a parent that says on stderr's last
    line the peak RSS of that one child (not of every child this test process had)."""
    mapping = write(tmp_path / "m.yaml", MAPPING)
    return subprocess.run([sys.executable, "-c", PEAK, sys.executable, "-m", "backfill",
                           "validate", str(mapping), *args, "--quiet", "--rejects",
                           str(tmp_path / "r.ndjson")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def peak_kb(result: subprocess.CompletedProcess) -> int:
    return int(result.stderr.strip().splitlines()[-1].removeprefix("peak_kb="))


@pytest.mark.parametrize("kind", ["zstd bomb", "dev zero", "long csv line"])
def test_a_bomb_is_refused_with_bounded_memory(tmp_path, kind):
    if kind == "zstd bomb":  # 300 MB of one line in about 10 KB
        path = tmp_path / "bomb.ndjson.zst"
        with open(path, "wb") as fh, zstandard.ZstdCompressor().stream_writer(fh) as out:
            out.write(b'{"user_id": "')
            for _ in range(300):
                out.write(b"a" * (1 << 20))
        assert path.stat().st_size < 200_000
        args = [str(path)]
    elif kind == "dev zero":
        args = ["/dev/zero", "--format", "csv"]
    else:
        path = tmp_path / "long.csv"
        with open(path, "wb") as fh:
            fh.write(b"user_id\nu1\n" + b"x" * (200 << 20) + b"\nu2\n")
        args = [str(path)]
    result = validate(tmp_path, *args)
    assert result.returncode == 2, result.stderr
    assert "is longer than 67,108,864 bytes" in result.stderr
    assert "source.max_record_bytes" in result.stderr and "Traceback" not in result.stderr
    assert peak_kb(result) < 1024 * 1024  # under 1 GB


def test_the_limit_is_a_mapping_key(tmp_path):
    path = write(tmp_path / "p.csv", b"user_id\nu1\n" + b"x" * 1_500_000 + b"\nu2\n")
    mapping = write(tmp_path / "m.yaml", MAPPING.replace(
        "version: 1\n", "version: 1\nsource: {max_record_bytes: 1048576}\n"))
    result = subprocess.run([sys.executable, "-m", "backfill", "validate", str(mapping),
                             str(path), "--quiet"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and "line 3 (byte 11 of" in result.stderr
    assert "longer than 1,048,576 bytes" in result.stderr
    bad = write(tmp_path / "bad.yaml", MAPPING.replace(
        "version: 1\n", "version: 1\nsource: {max_record_bytes: lots}\n"))
    refused = subprocess.run([sys.executable, "-m", "backfill", "validate", str(bad),
                              str(path), "--quiet"], cwd=ROOT, capture_output=True, text=True)
    assert refused.returncode == 2 and "bad.yaml:2: source.max_record_bytes" in refused.stderr


def test_a_block_of_blank_lines_is_lines_not_rows():
    layout = CsvLayout(("user_id", "n"))
    csv = parse_csv_block(b"\n" * 100_000, layout, "in.csv", 1, 0)
    assert (csv.records, csv.lines, csv.path, csv.frame.height) == (0, 100_000, "blank", 0)
    assert csv.frame.columns[:2] == ["user_id", "n"]
    ndjson = parse_ndjson_block(b"\n\r\n" * 1000, "in.ndjson", 1, 0)
    assert (ndjson.records, ndjson.lines, ndjson.frame.height) == (0, 2000, 0)


def test_rows_around_a_flood_of_blank_lines_keep_their_lines(tmp_path):
    path = write(tmp_path / "p.csv", b"user_id\nu1\n" + b"\n" * (12 << 20) + b"u2\n")
    dump = tmp_path / "bodies"
    result = validate(tmp_path, str(path), "--dump-batches", str(dump))
    assert result.returncode == 0, result.stderr
    assert dump.read_bytes().count(b'"id":"u') == 2
