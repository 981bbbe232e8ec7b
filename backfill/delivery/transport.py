"""The network seam: how a request reaches the Track API. `Sender` decides what to send and
what an answer means; a `Transport` only carries one request and brings back the answer.

`HttpTransport` is the real one (aiohttp). `MemoryTransport` answers from a function in this
process, with no socket: for tests, the library's and a user's own (`backfill.testing.MemoryApi`
is a Track API made of one). A transport given to a run is used from more than one event loop
(the endpoint's check runs in a thread of its own), so it must not hold loop-bound state;
`MemoryTransport` does not.
"""

from __future__ import annotations

import inspect
import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import NamedTuple, Protocol

import aiohttp


class Answer(NamedTuple):
    status: int
    headers: Mapping[str, str]
    body: bytes


class Transport(Protocol):
    """Carries one request. Raises `aiohttp.ClientError` or `asyncio.TimeoutError` when no
    answer came (the sender retries those)."""

    async def request(self, method: str, url: str, body: bytes | None,
                      headers: Mapping[str, str], timeout: aiohttp.ClientTimeout) -> Answer: ...

    async def aclose(self) -> None: ...


class HttpTransport:
    """aiohttp, one connection pool of `limit` connections, made in the running event loop at
    the first request; redirects are never followed (the sender refuses them)."""

    def __init__(self, limit: int, tls: ssl.SSLContext | None, proxy: str | None):
        self._limit, self._tls, self._proxy = limit, tls, proxy
        self._session: aiohttp.ClientSession | None = None

    async def request(self, method: str, url: str, body: bytes | None,
                      headers: Mapping[str, str], timeout: aiohttp.ClientTimeout) -> Answer:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._limit, ssl=self._tls or False)
            # not trust_env: it reads ~/.netrc on every request (in a thread), and a netrc
            # `default` entry beside our Authorization header makes aiohttp raise
            self._session = aiohttp.ClientSession(connector=connector)
        async with self._session.request(method, url, data=body, headers=headers,
                                          timeout=timeout, proxy=self._proxy,
                                          allow_redirects=False) as response:
            return Answer(response.status, response.headers, await response.read())

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


Handler = Callable[[str, str, bytes | None, Mapping[str, str]],
                   "Answer | tuple[int, bytes] | Awaitable[Answer | tuple[int, bytes]]"]


class MemoryTransport:
    """Answers each request with `handler(method, url, body, headers)`: an `Answer`, or
    `(status, body)`; the handler may be a coroutine function, and may raise
    `aiohttp.ClientConnectionError` to stand for a lost connection. Nothing leaves the
    process."""

    def __init__(self, handler: Handler):
        self.handler = handler

    async def request(self, method: str, url: str, body: bytes | None,
                      headers: Mapping[str, str], timeout: aiohttp.ClientTimeout) -> Answer:
        answer = self.handler(method, url, body, headers)
        if inspect.isawaitable(answer):
            answer = await answer
        if isinstance(answer, Answer):
            return answer
        status, content = answer  # type: ignore[misc]
        return Answer(status, {"content-type": "application/json"}, content)

    async def aclose(self) -> None:
        return None
