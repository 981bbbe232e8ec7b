"""What a file's name and first bytes say about it: its format and compression by extension,
and a CSV header's delimiter when it is not the declared one. Pure."""

from __future__ import annotations

from pathlib import Path

EXTENSIONS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".ndjson": "ndjson", ".jsonl": "ndjson",
              ".json": "ndjson", ".parquet": "parquet", ".pq": "parquet"}


DELIMITERS = (";", "\t", "|")


def other_delimiter(text: str, header: list[str]) -> str | None:
    """The delimiter a header read as one column shows instead (`;`, tab or `|`, the most
    frequent), or None."""
    if len(header) != 1:
        return None
    first = text.partition("\n")[0]
    counts = {d: first.count(d) for d in DELIMITERS}
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] else None


def shown(delimiter: str) -> str:
    return "\\t" if delimiter == "\t" else delimiter


def compression_of(path: str) -> tuple[str, str | None]:
    """('people.csv', 'gz') for 'people.csv.gz' (a URL's query string is not its name)."""
    if "://" in path:
        path = path.split("?", 1)[0].split("#", 1)[0]
    lower = path.lower()
    for ext, kind in ((".gz", "gz"), (".gzip", "gz"), (".zst", "zst"), (".zstd", "zst"),
                      (".bz2", "bz2")):
        if lower.endswith(ext):
            return path[: -len(ext)], kind
    return path, None


def format_of(path: str, declared: str | None) -> str | None:
    if declared:
        return declared
    base, _ = compression_of(path)
    return EXTENSIONS.get(Path(base).suffix.lower())


MAGIC = ((b"\x1f\x8b", "gz"), (b"\x28\xb5\x2f\xfd", "zst"), (b"BZh", "bz2"))


def sniff_compression(head: bytes) -> str | None:
    """gzip, zstd or bzip2 by a file's first bytes, whatever its name says; None for others
    (a file named .gz that is not gzip is read as it is)."""
    return next((kind for magic, kind in MAGIC if head.startswith(magic)), None)
