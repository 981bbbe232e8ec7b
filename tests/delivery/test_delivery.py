from __future__ import annotations

import asyncio
import time

import orjson
import pytest
from helpers.fakeapi import fake_api

from backfill.contract import Batch
from backfill.delivery.ratelimit import RateLimiter
from backfill.delivery.retry import Delivery, RetryPolicy
from backfill.delivery.sender import Sender
from backfill.errors import RetriesExhausted
from backfill.runfiles.tally import Tally


def batch(*ops: dict) -> Batch:
    texts = [orjson.dumps(o) for o in ops]
    return Batch(b",".join(texts), tuple(len(t) for t in texts),
                 tuple(0 for _ in ops), tuple(range(len(ops))))


class Collected(list):
    """A rejects sink that keeps them in memory."""

    write = list.append

    def flush(self) -> None:
        pass


def deliver(responses, b: Batch, attempts=5):
    calls = []

    def answer(method, path, headers, body):
        calls.append((time.monotonic(), orjson.loads(body)))
        return responses.pop(0) if responses else (200, {}, b"{}")

    rejects = Collected()
    tally = Tally(rejects)

    async def go():
        async with fake_api(answer) as url:
            sender = Sender(url, "s", "k")
            d = Delivery(sender, RateLimiter(1000), tally, ["in.csv"],
                         RetryPolicy(attempts=attempts, base=0.01, cap=0.02), seed=1)
            try:
                await d.deliver(b)
            finally:
                await sender.aclose()

    started = time.monotonic()
    asyncio.run(go())
    return calls, tally.report(mode="run"), rejects, time.monotonic() - started


OPS = [{"type": "person", "identifiers": {"id": str(i)}, "action": "identify"} for i in range(4)]


def test_retry_after_is_honoured_before_the_retry():
    calls, report, _, _ = deliver([(429, {"Retry-After": "0.3"}, b"")], batch(*OPS))
    assert len(calls) == 2 and calls[1][0] - calls[0][0] >= 0.3
    assert report.retries == 1 and report.operations_delivered == 4


def test_400_splits_down_to_the_bad_operation():
    bad = {"errors": [{"reason": "invalid", "field": "identifiers", "message": "bad id"}]}

    responses = [(400, {}, orjson.dumps(bad)),        # [0,1,2,3]
                 (200, {}, b"{}"),                    # [0,1]
                 (400, {}, orjson.dumps(bad)),        # [2,3]
                 (400, {}, orjson.dumps(bad)),        # [2]
                 (200, {}, b"{}")]                    # [3]
    calls, report, rejects, _ = deliver(responses, batch(*OPS))
    assert [len(c[1]["batch"]) for c in calls] == [4, 2, 2, 1, 1]
    assert report.operations_delivered == 3 and report.operations_rejected == 1
    assert rejects[0].row == 2 and rejects[0].stage == "api"
    assert rejects[0].reason == "invalid: identifiers: bad id"


def test_207_rejects_only_the_listed_operations():
    body = orjson.dumps({"errors": [{"batch_index": 1, "reason": "invalid", "message": "x"}]})
    _, report, rejects, _ = deliver([(207, {}, body)], batch(*OPS))
    assert report.operations_delivered == 3 and [r.row for r in rejects] == [1]
    assert rejects[0].record == OPS[1]


def test_retries_run_out():
    try:
        deliver([(503, {}, b"")] * 3, batch(*OPS), attempts=3)
    except RetriesExhausted as exc:
        assert "failed 3 times" in str(exc)
    else:
        raise AssertionError("expected RetriesExhausted")


def test_a_request_waiting_to_retry_gives_up_when_the_run_stops():
    import threading

    from backfill.errors import Interrupted

    stopping = threading.Event()
    said = []

    def answer(method, path, headers, body):
        stopping.set()  # Ctrl-C while the first answer is a 503
        return 503, {}, b""

    async def go():
        async with fake_api(answer) as url:
            sender = Sender(url, "s", "k")
            d = Delivery(sender, RateLimiter(1000), Tally(Collected()), ["in.csv"],
                         RetryPolicy(attempts=10, base=0.05, cap=0.1), seed=1,
                         stopping=stopping, retrying=lambda *args: said.append(args))
            try:
                await d.deliver(batch({"type": "person"}))
            finally:
                await sender.aclose()

    with pytest.raises(Interrupted):  # not RetriesExhausted after ten tries
        asyncio.run(go())
    assert said == [("HTTP 503", 1, 10)]
