from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest

from backfill.delivery.sender import Kind, Sender


def answer(status, body=b"{}", headers=None, error=None):
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"].startswith("Basic ")
        if error:
            raise error
        return httpx.Response(status, content=body, headers=headers or {})
    return httpx.MockTransport(handler)


def post(transport):
    async def go():
        sender = Sender("http://api.test", "site", "key", transport=transport)
        try:
            return await sender.post("/api/v2/batch", b'{"batch":[]}')
        finally:
            await sender.aclose()
    return asyncio.run(go())


@pytest.mark.parametrize("status, body, headers, kind, retry_after", [
    (200, b"{}", None, Kind.OK, None),
    (200, b'{"errors":[{"batch_index":1,"reason":"x"}]}', None, Kind.PARTIAL, None),
    (207, b'{"errors":[{"batch_index":0,"reason":"invalid"}]}', None, Kind.PARTIAL, None),
    (400, b'{"errors":[{"reason":"invalid"}]}', None, Kind.BAD_REQUEST, None),
    (401, b"", None, Kind.UNAUTHORIZED, None),
    (413, b"", None, Kind.TOO_LARGE, None),
    (429, b"", {"Retry-After": "3"}, Kind.RETRY, 3.0),
    (503, b"", None, Kind.RETRY, None),
])
def test_each_status(status, body, headers, kind, retry_after):
    outcome = post(answer(status, body, headers))
    assert outcome.kind is kind and outcome.retry_after == retry_after
    if kind is Kind.PARTIAL:
        assert outcome.errors == orjson.loads(body)["errors"]


@pytest.mark.parametrize("error", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"),
                                   httpx.RemoteProtocolError("closed")])
def test_network_errors_are_retryable(error):
    assert post(answer(200, error=error)).kind is Kind.RETRY
