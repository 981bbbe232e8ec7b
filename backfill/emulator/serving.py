"""Running the emulator's app: in a background thread (tests, `backfill demo`), or in the
foreground until interrupted (`backfill emulator`), on a socket bound first."""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
import sys
import threading

from aiohttp import web

from backfill.emulator.app import Emulator
from backfill.emulator.store import CLOSE_WAIT_S
from backfill.errors import UsageError


class EmulatorThread:
    """Runs an emulator on loopback in a background thread: `with EmulatorThread(...) as emu`."""

    def __init__(self, emulator: Emulator, host: str = "127.0.0.1", port: int = 0,
                 ssl_context: ssl.SSLContext | None = None):
        self.emulator = emulator
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="emulator")
        self._runner: web.AppRunner | None = None
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._start())
        except BaseException as exc:  # report a bind failure to the starting thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())  # type: ignore[union-attr]
        self._loop.close()

    async def _start(self) -> None:
        self._runner = web.AppRunner(self.emulator.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self.ssl_context)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.emulator.base_url = self.url

    def start(self) -> EmulatorThread:
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        if not self._thread.is_alive():
            self.emulator.store.close()

    def __enter__(self) -> EmulatorThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def listen(host: str, port: int) -> socket.socket:
    """The server's socket, bound before anything else is made: a port in use or a host that
    is not this machine's is a usage error, not a traceback."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except (OSError, OverflowError) as exc:
        raise UsageError(f"--host {host}: cannot listen there ({exc}); use 127.0.0.1, or an "
                         "address of this machine") from None
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        why = "is in use by another program" if exc.errno == errno.EADDRINUSE else \
            f"cannot be used ({exc.strerror})"
        raise UsageError(f"port {port} on {host} {why}: choose another with --port (the "
                         "run's --endpoint then names it)") from None
    sock.listen(1024)
    return sock


def serve(emulator: Emulator, sock: socket.socket,
          ssl_context: ssl.SSLContext | None = None) -> None:
    """Serve in the foreground until interrupted (the `backfill emulator` command); the store
    is closed (one file) when it stops."""
    host, port = sock.getsockname()[:2]
    emulator.base_url = f"{'https' if ssl_context else 'http'}://{host}:{port}"
    try:
        web.run_app(emulator.app(), sock=sock, access_log=None, print=None,
                    ssl_context=ssl_context)
    finally:
        behind = emulator.store.behind()
        if behind:
            print(f"applying the last {behind:,} operations to the workspace (at most "
                  f"{CLOSE_WAIT_S:.0f} s, or Ctrl-C: the rest is applied when the store is "
                  "next opened)", file=sys.stderr)
        emulator.store.close()
