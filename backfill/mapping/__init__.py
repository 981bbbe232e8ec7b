"""The mapping: the YAML file's model and parser, and its compilation into polars expressions
that turn a chunk of rows into one JSON text per Track API operation, within the API's limits."""
