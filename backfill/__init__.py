"""backfill: import large CSV, NDJSON and Parquet files into Customer.io through its Track API."""

__version__ = "0.1.0"
