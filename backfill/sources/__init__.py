"""Sources: where rows come from (files, globs, stdin, frames, Arrow, iterables of dicts), read
in chunks with a row number, and the parsing of CSV and NDJSON blocks."""
