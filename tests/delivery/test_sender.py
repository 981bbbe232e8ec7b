"""The sender against a real HTTP server on loopback: what each answer means, and network
errors as retryable outcomes."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from helpers import free_port
from helpers.fakeapi import Drop, fake_api

from backfill.delivery.sender import Kind, Sender


def post(answer, timeout: float = 30.0, url: str | None = None):
    async def go():
        async with fake_api(answer) as served:
            sender = Sender(url or served, "site", "key", timeout=timeout)
            try:
                return await sender.post("/api/v2/batch", b'{"batch":[]}')
            finally:
                await sender.aclose()
    return asyncio.run(go())


def answering(status, body=b"{}", headers=None):
    def answer(method, path, sent, content):
        assert sent["Authorization"] == "Basic c2l0ZTprZXk="  # site:key
        assert method == "POST" and path == "/api/v2/batch" and content == b'{"batch":[]}'
        return status, headers or {}, body
    return answer


@pytest.mark.parametrize("status, body, headers, kind, retry_after", [
    (200, b"{}", None, Kind.OK, None),
    (200, b'{"errors":[{"batch_index":1,"reason":"x"}]}', None, Kind.PARTIAL, None),
    (207, b'{"errors":[{"batch_index":0,"reason":"invalid"}]}', None, Kind.PARTIAL, None),
    (400, b'{"errors":[{"reason":"invalid"}]}', None, Kind.BAD_REQUEST, None),
    (401, b"", None, Kind.UNAUTHORIZED, None),
    (404, b"", None, Kind.NOT_FOUND, None),
    (413, b"", None, Kind.TOO_LARGE, None),
    (429, b"", {"Retry-After": "3"}, Kind.RETRY, 3.0),
    (503, b"", None, Kind.RETRY, None),
])
def test_each_status(status, body, headers, kind, retry_after):
    outcome = post(answering(status, body, headers))
    assert outcome.kind is kind and outcome.retry_after == retry_after
    if kind is Kind.PARTIAL:
        assert outcome.errors == orjson.loads(body)["errors"]


def drop(*request):
    raise Drop


async def slow(*request):
    await asyncio.sleep(2)
    return 200, {}, b"{}"


def test_a_closed_connection_is_retryable():
    outcome = post(drop)
    assert outcome.kind is Kind.RETRY and outcome.detail


def test_a_slow_answer_times_out_and_is_retryable():
    outcome = post(slow, timeout=0.2)
    assert outcome.kind is Kind.RETRY and "Timeout" in outcome.detail


def test_a_refused_connection_is_retryable():
    outcome = post(answering(200), url=f"http://127.0.0.1:{free_port()}")
    assert outcome.kind is Kind.RETRY and "Connect" in outcome.detail


def test_a_netrc_default_entry_does_not_meet_our_credentials(tmp_path, monkeypatch):
    netrc = tmp_path / ".netrc"
    netrc.write_text("default login someone password other\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HOME", str(tmp_path))
    assert post(answering(200)).kind is Kind.OK  # our Basic auth, no ValueError


def test_proxies_come_from_the_environment(monkeypatch):
    from backfill.delivery.sender import env_proxy

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    assert env_proxy("https://track.customer.io") == "http://proxy.internal:3128"
    assert env_proxy("http://127.0.0.1:8080") is None
