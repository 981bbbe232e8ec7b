"""A local Track API for rehearsals and tests: the HTTP app and its SQLite store."""

from collections.abc import Callable

from backfill.emulator.app import (
    Emulator,
    EmulatorThread,
    Faults,
    latency_range,
    listen,
    serve,
    tls_context,
)
from backfill.emulator.store import Store

__all__ = ["Emulator", "EmulatorThread", "Faults", "Store", "latency_range", "serve",
           "serve_from_options", "tls_context"]


def serve_from_options(host: str, port: int, db: str | None, count_only: bool, site_id: str,
                       api_key: str, fail_rate: float, throttle_rate: float, retry_after: float,
                       drop_rate: float, lost_answer_rate: float, latency_ms: str,
                       max_body: int, invalid: str, seed: int | None, tls_cert: str | None,
                       tls_key: str | None, say: Callable[[str], object]) -> None:
    """`backfill emulator`: the app its options describe, served until Ctrl-C."""
    context = tls_context(tls_cert, tls_key)
    sock = listen(host, port)  # first: a port in use leaves no store behind
    store = Store(db, count_only=count_only)
    faults = Faults(fail_rate, throttle_rate, drop_rate, latency_range(latency_ms), retry_after,
                    seed, lost_answer_rate)
    app = Emulator(site_id, api_key, store, faults, max_body=max_body, invalid=invalid)
    where = "counting only" if count_only else f"storing in {store.path}"
    say(f"Track API emulator on {'https' if context else 'http'}://{host}:{port} ({where}); "
        "Ctrl-C stops it")
    serve(app, sock, context)
