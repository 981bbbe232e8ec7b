"""A hostile HTTP server on loopback, in a thread of its own: it redirects, lies or throttles as
the test's `answer` says, and counts every request it received, so a test can check that nothing
was marked done that the API did not acknowledge, and nothing was sent anywhere else."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable

from aiohttp import web

Answer = tuple[int, dict, bytes]
REGION = (200, {"content-type": "application/json"},
          b'{"url": "", "region": "us", "environment_id": 1}')


class Hostile:
    """`answer(method, path, body) -> (status, headers, body)`; `requests` counts (method,
    path); `bodies` keeps the bytes received on each path."""

    def __init__(self, answer: Callable[[str, str, bytes], Answer]):
        self.answer = answer
        self.requests: Counter = Counter()
        self.bodies: dict[str, list[bytes]] = {}
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.url = ""
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> Hostile:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    @property
    def posts(self) -> int:
        return sum(n for (method, _), n in self.requests.items() if method == "POST")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests[(request.method, request.path)] += 1
        self.bodies.setdefault(request.path, []).append(body)
        result = self.answer(request.method, request.path, body)
        if asyncio.iscoroutine(result):
            result = await result
        status, headers, content = result
        return web.Response(status=status, headers=headers, body=content)

    def _serve(self) -> None:
        async def main() -> None:
            self._stop = asyncio.Event()
            app = web.Application(client_max_size=64 * 1024 * 1024)
            app.router.add_route("*", "/{tail:.*}", self._handle)
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)  # hung handlers
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            self.url = f"http://127.0.0.1:{port}"
            self._loop = asyncio.get_running_loop()
            self._ready.set()
            await self._stop.wait()
            await runner.cleanup()

        asyncio.run(main())


def api_like(batch: Callable[[bytes], Answer]) -> Callable[[str, str, bytes], Answer]:
    """Answers the region check as the API does, and every batch with `batch(body)`."""
    def answer(method: str, path: str, body: bytes) -> Answer:
        if path == "/api/v1/accounts/region":
            return REGION
        return batch(body)
    return answer
