"""A fake Track API on loopback for the sender's and delivery's unit tests: a real aiohttp
server (so the real client is what is tested) whose answers the test gives."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from aiohttp import web

Answer = tuple[int, dict, bytes]


class Drop(Exception):  # noqa: N818 - an instruction, not an error
    """Raised by an answer: the connection is closed without an answer."""


@contextlib.asynccontextmanager
async def fake_api(answer: Callable[[str, str, dict, bytes], Answer]) -> AsyncIterator[str]:
    """The server's base URL; `answer(method, path, headers, body)` gives (status, headers,
    body), may be a coroutine (to be slow), or raises `Drop`."""
    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        try:
            result = answer(request.method, request.path, dict(request.headers), body)
            if asyncio.iscoroutine(result):
                result = await result
        except Drop:
            if request.transport is not None:
                request.transport.close()
            raise asyncio.CancelledError from None
        status, headers, content = result
        return web.Response(status=status, headers=headers or {}, body=content)

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
