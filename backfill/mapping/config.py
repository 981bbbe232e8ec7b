"""The mapping file: YAML -> the frozen dataclasses of `model.py`, with every problem reported at
once with its line.

Pure apart from reading the file: `load_mapping(path)` reads it, `parse_mapping(text, path)` does the
rest: the top level here (version, source, csv, api), the operations in `operations.py`. The model's
names are re-exported here for callers that knew them from this module.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from backfill.contract import CsvOptions
from backfill.errors import MappingError, Problem
from backfill.mapping.model import (  # noqa: F401 - re-exported
    CONVERSIONS,
    DELIVERY_EVENTS,
    FORMATS,
    OPERATION_KEYS,
    PLATFORMS,
    RECENT_EVENTS,
    Api,
    Device,
    Mapping,
    Operation,
    Relationship,
    Source,
    Value,
    check_columns,
    values_of,
)
from backfill.mapping.operations import OperationParser, known_encoding, line_of
from backfill.mapping.valueopts import null_values


def load_mapping(path: str | Path) -> Mapping:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MappingError(str(path), [Problem(0, "the mapping file does not exist")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(str(path), [Problem(0, f"cannot read the mapping: {exc}")]) from None
    return parse_mapping(text, str(path))


def parse_mapping(text: str, path: str = "<mapping>") -> Mapping:
    """Parse and check a mapping; raise MappingError listing every problem found."""
    yaml = YAML(typ="rt", pure=True)
    try:
        doc = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise MappingError(path, [Problem(line, f"YAML syntax error: {exc.problem}")]) from None
    except Exception as exc:  # ruamel raises a few unmarked error types on odd input
        raise MappingError(path, [Problem(0, f"YAML error: {exc}")]) from None
    parser = _Parser(path)
    mapping = parser.mapping(doc, text)
    if parser.problems:
        raise MappingError(path, sorted(parser.problems, key=lambda p: p.line))
    return mapping


class _Parser(OperationParser):
    """The whole file: version, source, api, then each operation."""

    def mapping(self, doc: Any, text: str) -> Mapping:
        if not isinstance(doc, CommentedMap):
            self.problem(1, "the mapping must be a YAML mapping with 'version' and 'operations'")
            return Mapping(self.path, Source(), Api(), ())
        self.unknown_keys(doc, ("version", "source", "api", "recent_events", "operations"),
                          "the mapping")
        recent = doc.get("recent_events", "send")
        if recent not in RECENT_EVENTS:
            self.problem(line_of(doc, "recent_events"), "recent_events must be send (the "
                         "default), skip or reject: what to do with events from the last 72 "
                         "hours, which can trigger campaigns")
            recent = "send"
        if doc.get("version") != 1:
            self.problem(line_of(doc, "version") or 1, "'version: 1' is required")
        source = self.source(doc.get("source"), line_of(doc, "source"))
        api = self.api(doc.get("api"), line_of(doc, "api"))
        ops = doc.get("operations")
        operations: list[Operation] = []
        if not isinstance(ops, CommentedSeq) or not ops:
            self.problem(line_of(doc, "operations") or 1, "'operations' must be a non-empty list")
        else:
            for i, node in enumerate(ops):
                op = self.operation(i, node, line_of(ops, i))
                if op is not None:
                    operations.append(op)
        v1 = [op for op in operations if op.is_v1]
        if v1 and len(operations) > 1:
            self.problem(v1[0].line, f"{v1[0].label}: segment and form operations use v1 "
                         "endpoints, one request per segment batch or form: put each in a "
                         "mapping of its own")
        return Mapping(self.path, source, api, tuple(operations), text, recent)

    def source(self, node: Any, line: int) -> Source:
        if node is None:
            return Source()
        if not isinstance(node, CommentedMap):
            self.problem(line, "'source' must be a mapping (path, format, csv)")
            return Source()
        self.unknown_keys(node, ("path", "format", "csv", "database", "query", "resume_key",
                                 "null_values", "max_record_bytes"), "source")
        raw = node.get("path")
        paths: tuple[str, ...] = ()
        if isinstance(raw, str):
            paths = (raw,)
        elif isinstance(raw, CommentedSeq) and all(isinstance(p, str) for p in raw):
            paths = tuple(raw)
        elif raw is not None:
            self.problem(line_of(node, "path"), "source.path must be a path, a glob or a list of them")
        fmt = node.get("format")
        if fmt is not None and fmt not in FORMATS:
            self.problem(line_of(node, "format"), f"source.format must be one of {', '.join(FORMATS)}")
            fmt = None
        database, query, key = self.database(node, line, paths)
        csv = self.csv_options(node.get("csv"), line_of(node, "csv"))
        longest = node.get("max_record_bytes", csv.max_record_bytes)
        if not isinstance(longest, int) or isinstance(longest, bool) or longest < 1 << 20:
            self.problem(line_of(node, "max_record_bytes"), "source.max_record_bytes must be "
                         "a whole number of bytes, at least 1048576 (default 67108864: 64 MiB)")
        else:
            csv = replace(csv, max_record_bytes=longest)
        return Source(paths, fmt, csv,
                      database, query, key,
                      null_values(node.get("null_values"), line_of(node, "null_values"),
                                  "source", self.problem))

    def database(self, node: Any, line: int, paths: tuple[str, ...]
                 ) -> tuple[str | None, str | None, tuple[str, ...]]:
        """source.database, source.query and source.resume_key: both or none of the first two
        (a resume_key alone serves `--database URL --query SQL`)."""
        database, query, raw = node.get("database"), node.get("query"), node.get("resume_key")
        if database is None and query is None and raw is None:
            return None, None, ()
        named = database is not None or query is not None  # else a key for --database/--query
        if named and (not isinstance(database, str) or not isinstance(query, str)
                      or not query.strip()):
            self.problem(line, "a database source needs both source.database (a "
                               "postgresql:// URL) and source.query (a SELECT)")
            return None, None, ()
        if paths and database:
            self.problem(line_of(node, "path"), "source: give a path or a database, not both")
        key = (raw,) if isinstance(raw, str) else tuple(raw) if isinstance(raw, CommentedSeq) \
            and all(isinstance(k, str) for k in raw) else ()
        if raw is not None and not key:
            self.problem(line_of(node, "resume_key"), "source.resume_key must be a column or a "
                                                      "list of columns")
        return database, query, key

    def section(self, node: Any, line: int, name: str, keys: tuple[str, ...]) -> bool:
        """Whether an optional section is there and a mapping (its problems are noted)."""
        if node is None:
            return False
        if not isinstance(node, CommentedMap):
            self.problem(line, f"{name} must be a mapping ({', '.join(keys)})")
            return False
        self.unknown_keys(node, keys, name)
        return True

    def csv_options(self, node: Any, line: int) -> CsvOptions:
        if not self.section(node, line, "source.csv", ("delimiter", "quote", "encoding",
                                                       "header")):
            return CsvOptions()
        opts = CsvOptions()
        delimiter = node.get("delimiter", opts.delimiter)
        if delimiter == "\\t":
            delimiter = "\t"
        if not isinstance(delimiter, str) or len(delimiter.encode()) != 1:
            self.problem(line_of(node, "delimiter"), "source.csv.delimiter must be one ASCII character")
            delimiter = opts.delimiter
        quote = node.get("quote", opts.quote)
        if not isinstance(quote, str) or len(quote.encode()) != 1:
            self.problem(line_of(node, "quote"), "source.csv.quote must be one ASCII character")
            quote = opts.quote
        encoding = node.get("encoding", opts.encoding)
        if not isinstance(encoding, str) or not known_encoding(encoding):
            self.problem(
                line_of(node, "encoding"),
                f"source.csv.encoding '{encoding}' is not an encoding Python knows "
                "(utf8, latin-1, cp1252, utf-16 ...)",
            )
            encoding = opts.encoding
        header = node.get("header", True)
        if not isinstance(header, bool):
            self.problem(line_of(node, "header"), "source.csv.header must be true or false")
            header = True
        return CsvOptions(delimiter, quote, encoding, header, detect="delimiter" not in node)

    def api(self, node: Any, line: int) -> Api:
        if not self.section(node, line, "api", ("region", "rate", "concurrency", "endpoint")):
            return Api()
        region = node.get("region")
        if region is not None and region not in ("us", "eu", "auto"):
            self.problem(line_of(node, "region"), "api.region must be us, eu or auto")
            region = None
        rate = node.get("rate")
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int | float)
                                 or rate <= 0):
            self.problem(line_of(node, "rate"), "api.rate must be a positive number of requests/s")
            rate = None
        conc = node.get("concurrency")
        if conc is not None and (isinstance(conc, bool) or not isinstance(conc, int) or conc < 1):
            self.problem(line_of(node, "concurrency"), "api.concurrency must be a positive integer")
            conc = None
        endpoint = node.get("endpoint")
        if endpoint is not None and not isinstance(endpoint, str):
            self.problem(line_of(node, "endpoint"), "api.endpoint must be a URL")
            endpoint = None
        return Api(region, float(rate) if rate else None, conc, endpoint)
