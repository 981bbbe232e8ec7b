"""A local Track API for rehearsals and tests: the HTTP app and its SQLite store.

The app's names load when first used: the workspace's own process (`applier.py`) imports this
package, and needs neither aiohttp nor the app."""

from __future__ import annotations

import importlib
import ipaddress
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from backfill.errors import UsageError

if TYPE_CHECKING:
    from backfill.emulator.app import Emulator, Faults
    from backfill.emulator.serving import EmulatorThread, listen, serve
    from backfill.emulator.store import Store

LAZY = {"Emulator": "app", "EmulatorThread": "serving", "Faults": "app", "listen": "serving",
        "serve": "serving", "Store": "store"}


def __getattr__(name: str) -> Any:
    if name in LAZY:
        return getattr(importlib.import_module(f"backfill.emulator.{LAZY[name]}"), name)
    raise AttributeError(f"module 'backfill.emulator' has no attribute {name!r}")

DEFAULT_CREDENTIALS = ("site", "key")  # `backfill emulator`'s, for rehearsals on loopback


def loopback(host: str) -> bool:
    """Whether `host` is this machine only (127.0.0.0/8, ::1, localhost)."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False

__all__ = ["Emulator", "EmulatorThread", "Faults", "Store", "latency_range", "listen", "serve",
           "serve_from_options", "tls_context"]


def latency_range(text: str) -> tuple[float, float]:
    """`--latency-ms`: "N" or "MIN-MAX" milliseconds."""
    lo, _, hi = text.partition("-")
    try:
        return float(lo), float(hi or lo)
    except ValueError:
        raise UsageError(f"--latency-ms '{text}': give N or MIN-MAX in ms") from None


def tls_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    """A server context for HTTPS with this certificate and key (PEM), or None for HTTP."""
    if not cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def serve_from_options(host: str, port: int, db: str | None, count_only: bool, workspace: bool,
                       site_id: str, api_key: str, fail_rate: float, throttle_rate: float, retry_after: float,
                       drop_rate: float, lost_answer_rate: float, latency_ms: str,
                       max_body: int, invalid: str, seed: int | None, tls_cert: str | None,
                       tls_key: str | None, say: Callable[[str], object]) -> None:
    """`backfill emulator`: the app its options describe, served until Ctrl-C. Beyond
    loopback it stores what anyone on the network sends: the default credentials are refused
    there."""
    from backfill.emulator.app import Emulator, Faults
    from backfill.emulator.serving import listen, serve
    from backfill.emulator.store import Store

    if not loopback(host) and (site_id, api_key) == DEFAULT_CREDENTIALS:
        raise UsageError(f"--host {host} serves beyond this machine, and the emulator stores "
                         "every record sent to it: set credentials of your own with --site-id "
                         "and --api-key (or CUSTOMERIO_SITE_ID and CUSTOMERIO_API_KEY); the "
                         "defaults site/key are refused there")
    context = tls_context(tls_cert, tls_key)
    sock = listen(host, port)  # first: a port in use leaves no store behind
    store = Store(db, count_only=count_only, keep_workspace=workspace)
    faults = Faults(fail_rate, throttle_rate, drop_rate, latency_range(latency_ms), retry_after,
                    seed, lost_answer_rate)
    app = Emulator(site_id, api_key, store, faults, max_body=max_body, invalid=invalid)
    where = "counting only" if count_only else f"storing in {store.path}"
    say(f"Track API emulator on {'https' if context else 'http'}://{host}:{port} ({where}); "
        "Ctrl-C stops it")
    if not count_only and workspace:
        waiting = store.behind()
        if waiting:
            say(f"{store.path} holds {waiting:,} operations its workspace has not applied "
                "(kept with --no-workspace, or by an earlier version): applying them now, "
                "beside serving (the pages say how far it is)")
        say(f"The workspace's pages: {'https' if context else 'http'}://{host}:{port}/ (with "
            "the same credentials)")
    if not loopback(host):
        say(f"warning: {host} is reachable from other machines: anyone who has the "
            "credentials can send to it and read /_emulator/stats")
    serve(app, sock, context)
