"""Wrong endpoints and dead ones: a malformed URL is a usage error (exit 2); an endpoint that
cannot be reached, or whose path is not the API's root, stops the run before anything is sent
(exit 3, or 4 for a wrong path), its check made while the input begins to be read; a 404 for
/api/v2 mid-run stops at once like a 401; retries are said as they happen."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import free_port, write
from helpers.emulated import KEY, SITE, start, stored
from helpers.fakeapi import fake_api
from helpers.hostile import REGION, Hostile
from test_delivery import Collected

from backfill.cli import cli
from backfill.contract import Batch
from backfill.delivery.endpoint import endpoint_url
from backfill.delivery.ratelimit import RateLimiter
from backfill.delivery.retry import Delivery, RetryPolicy
from backfill.delivery.sender import Sender
from backfill.emulator import Faults
from backfill.errors import UsageError, WrongEndpoint
from backfill.runfiles.tally import Tally

MAPPING = ("version: 1\noperations:\n  - type: person\n    action: identify\n"
           "    identifiers: {id: user_id}\n")
ENV = {"CUSTOMERIO_SITE_ID": SITE, "CUSTOMERIO_API_KEY": KEY}


def invoke(tmp_path, endpoint: str, *extra: str, rows: int = 50):
    write(tmp_path / "m.yaml", MAPPING)
    write(tmp_path / "p.csv", "user_id\n" + "".join(f"u{i}\n" for i in range(rows)))
    return CliRunner().invoke(cli, ["run", str(tmp_path / "m.yaml"), str(tmp_path / "p.csv"),
                                    "--endpoint", endpoint, *extra], env=ENV)


@pytest.mark.parametrize(("endpoint", "said"), [
    ("localhost:18080", "write http://localhost:18080"),
    ("ftp://example.com", "http:// or https://"),
    ("http://", "not an http(s) URL"),
    ("http://127.0.0.1:99999", "port"),
])
def test_a_malformed_endpoint_is_a_usage_error(tmp_path, endpoint, said):
    result = invoke(tmp_path, endpoint, "--quiet")
    assert result.exit_code == 2, result.output
    assert said in result.output and "Traceback" not in result.output
    assert not (tmp_path / "p.csv.checkpoint.json").exists()


def test_a_path_that_is_not_the_apis_root_stops_before_anything(tmp_path, emulator):
    emu, store = emulator, emulator.emulator.store
    result = invoke(tmp_path, f"{emu.url}/track", "--quiet")
    assert result.exit_code == 4, result.output
    assert f"{emu.url}/track/api/v1/accounts/region answered HTTP 404" in result.output
    assert "is not the root of a Track API" in result.output
    assert store.operations == 0 and not stored(store)
    assert not (tmp_path / "p.csv.rejects.ndjson").exists()  # no row rejected for it


def test_a_dead_endpoint_is_said_at_once(tmp_path):
    result = invoke(tmp_path, f"http://127.0.0.1:{free_port()}", "--quiet")
    assert result.exit_code == 3, result.output
    assert "cannot reach http://127.0.0.1:" in result.output and "tried 3 times" in result.output


def test_retries_are_said_while_they_happen(tmp_path):
    emu, store = start(tmp_path, faults=Faults(fail_rate=0.5, seed=4))
    try:
        result = invoke(tmp_path, emu.url, "--rate", "100", rows=3000)
    finally:
        emu.stop()
    assert result.exit_code == 0, result.output
    assert "retrying: HTTP 503 (try 2 of 10 for one request" in result.output


def batch(path: str) -> Batch:
    text = b'{"type":"person","action":"identify","identifiers":{"id":"u1"}}'
    if path.startswith("/api/v1/"):  # a v1 request: its own body, whole
        return Batch(text, (len(text),), (0,), (0,), path=path, prefix=b"", suffix=b"")
    return Batch(text, (len(text),), (0,), (0,))


def deliver(status: int, path: str) -> Tally:
    tally = Tally(Collected())

    async def go() -> None:
        async with fake_api(lambda *request: (status, {}, b"{}")) as url:
            sender = Sender(url, SITE, KEY)
            try:
                await Delivery(sender, RateLimiter(1000), tally, ["people.csv"],
                               RetryPolicy(attempts=2)).deliver(batch(path))
            finally:
                await sender.aclose()
    asyncio.run(go())
    return tally


@pytest.mark.parametrize("status", [404, 405])
def test_a_404_for_the_batch_endpoint_mid_run_stops_like_a_401(status):
    with pytest.raises(WrongEndpoint, match=rf"http://127\.0\.0\.1:\d+/api/v2/batch answered "
                                            f"HTTP {status}"):
        deliver(status, "/api/v2/batch")


def test_a_404_for_a_segment_rejects_its_rows_and_goes_on():
    tally = deliver(404, "/api/v1/segments/42/add_customers")
    assert tally.get("operations_rejected") == 1


def test_endpoint_url_keeps_a_prefix_and_drops_the_slash():
    assert endpoint_url(" https://proxy.example.com/customerio/ ") == \
        "https://proxy.example.com/customerio"
    with pytest.raises(UsageError):
        endpoint_url("track.customer.io")


def test_an_untrusted_certificate_is_said_at_once_with_the_fix(tmp_path):
    import ssl

    import trustme

    from backfill.emulator import Emulator, EmulatorThread, Store

    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    store = Store(str(tmp_path / "e.sqlite"))
    secure = EmulatorThread(Emulator(SITE, KEY, store), ssl_context=context).start()
    try:
        result = invoke(tmp_path, secure.url, "--quiet")
        assert result.exit_code == 3, result.output
        assert "TLS certificate is not trusted" in result.output and "SSL_CERT_FILE" in result.output
        assert "tried 3 times" not in result.output
        pem = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(pem))
        trusted = CliRunner().invoke(cli, ["run", str(tmp_path / "m.yaml"), str(tmp_path / "p.csv"),
                                           "--endpoint", secure.url, "--quiet"],
                                     env={**ENV, "SSL_CERT_FILE": str(pem)})
        assert trusted.exit_code == 0 and store.operations == 50, trusted.output
    finally:
        secure.stop()


def test_the_endpoint_check_overlaps_the_reading_and_nothing_is_sent_before_it(tmp_path):
    """The check's round trip (200 ms from a distant API) is not paid before the first row is
    read: the region answer waits until the first row was rejected by the reader, and no batch
    may arrive before it is answered."""
    rejects = tmp_path / "p.csv.rejects.ndjson"
    seen: dict[str, object] = {}

    async def answer(method, path, body):
        if path == "/api/v1/accounts/region":
            until = time.monotonic() + 10
            while not rejects.exists() and time.monotonic() < until:
                await asyncio.sleep(0.02)
            seen["read_before_the_answer"] = rejects.exists()
            seen["answered"] = time.monotonic()
            return REGION
        seen.setdefault("first_batch", time.monotonic())
        return 200, {"content-type": "application/json"}, b"{}"

    write(tmp_path / "m.yaml", MAPPING)
    write(tmp_path / "p.csv", "user_id\nu0,extra\n" + "".join(f"u{i}\n" for i in range(1, 50)))
    with Hostile(answer) as api:
        result = CliRunner().invoke(cli, ["run", str(tmp_path / "m.yaml"),
                                          str(tmp_path / "p.csv"), "--endpoint", api.url,
                                          "--quiet"], env=ENV)
    assert result.exit_code == 1, result.output  # the malformed row is the one reject
    assert seen["read_before_the_answer"] is True
    assert seen["first_batch"] >= seen["answered"]  # type: ignore[operator]
    assert api.posts == 1 and Path(rejects).read_text().count("\n") == 1
