"""A local Track API for rehearsals and tests: the HTTP app and its SQLite store."""

from backfill.emulator.app import (
    Emulator,
    EmulatorThread,
    Faults,
    latency_range,
    serve,
    tls_context,
)
from backfill.emulator.store import Store

__all__ = ["Emulator", "EmulatorThread", "Faults", "Store", "latency_range", "serve",
           "tls_context"]
