"""Delivering one packed body: rate limit, retries with backoff, splits, and API rejects.

A body is done when every operation in it was accepted or refused by the API (207, or a 400 for a
single operation). 429, 5xx and lost connections are retried with exponential backoff and jitter;
a Retry-After pauses every worker, and one longer than `max_wait` stops the run (resumably).
400 and 413 split the body in halves until the bad operations are isolated, unless 400 is the
answer to request after request (`BREAKER_400` in a row: something refuses every body). 401/403
stop the run at once, and so do a redirect, an answer that is not the API's JSON, and a 404/405
for /api/v2 (the endpoint is not the API's root); a v1 request's 404 rejects its rows (its
segment or form may not exist). A 207 error that names no operation of the body refuses every
operation it did not name: none is counted delivered on an answer that cannot be placed.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from backfill.contract import V2_PATH, Batch, Reject
from backfill.delivery.pacing import Pacing
from backfill.delivery.ratelimit import RateLimiter
from backfill.delivery.sender import (
    Kind,
    Outcome,
    Sender,
    credentials_refused,
    error_reason,
    refuse_odd,
    wrong_endpoint,
)
from backfill.errors import ApiRefusing, Interrupted, RetriesExhausted, WaitTooLong
from backfill.runfiles.tally import Tally

# v1 paths name a segment or form: their 404 may be that id's, and rejects the request's rows
V1_PATHS = ("/api/v1/segments/", "/api/v1/forms/")
BREAKER_400 = 32  # whole requests answered 400 in a row, with no success between: stop
MAX_WAIT = 120.0  # the longest Retry-After the run waits out; a longer one stops it
SAY_WAIT = 3.0  # a wait at least this long is said on stderr, even under --quiet


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 10  # tries of one request before the run stops
    base: float = 0.5
    cap: float = 30.0

    def delay(self, failures: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2^failures)], at least 10 ms."""
        return max(0.01, rng.uniform(0, min(self.cap, self.base * 2 ** failures)))


class Delivery:
    def __init__(self, sender: Sender, limiter: RateLimiter, tally: Tally, input_names: list[str],
                 policy: RetryPolicy | None = None, seed: int | None = None,
                 accepted: Callable[[Batch, set[int]], None] | None = None,
                 stopping: threading.Event | None = None,
                 retrying: Callable[[str, int, int], None] | None = None,
                 max_wait: float = MAX_WAIT, waiting: Callable[[str], None] | None = None,
                 pacing: Pacing | None = None):
        self.pacing = pacing  # adaptive concurrency and rate, told of every attempt
        self.max_wait = max_wait
        self.waiting = waiting  # told of a long wait before it starts (a line for stderr)
        self.refused_in_a_row = 0  # whole requests answered 400 since the last success
        self.accepted = accepted  # told of each body the API took: its refused operations
        self.stopping = stopping  # set when the run stops: a request waiting to retry gives up
        self.retrying = retrying  # told of each retry: (what failed, failures, attempts)
        self.sender = sender
        self.limiter = limiter
        self.tally = tally
        self.input_names = input_names
        self.policy = policy or RetryPolicy()
        self.rng = random.Random(seed)

    async def deliver(self, batch: Batch) -> None:
        outcome = await self._send(batch)
        self._breaker(batch, outcome)
        if outcome.kind is Kind.OK:
            self.tally.add(operations_delivered=batch.operations)
            if self.accepted is not None:
                self.accepted(batch, set())
        elif outcome.kind is Kind.PARTIAL:
            refused = self._refused(batch, outcome)
            self.tally.add(operations_delivered=batch.operations - len(refused))
            if self.accepted is not None:
                self.accepted(batch, refused)
        elif batch.splittable:  # 400 or 413 for the whole body: halve it
            for part in batch.split():
                await self.deliver(part)
        else:  # one operation, or a v1 request: the API refused all of it
            what = "the request is too large for the API (413)" \
                if outcome.kind is Kind.TOO_LARGE else \
                "; ".join(error_reason(e) for e in outcome.errors) or outcome.detail
            for index in range(batch.operations):
                self._api_reject(batch, index, what or f"HTTP {outcome.status}")

    async def _send(self, batch: Batch) -> Outcome:
        failures = 0
        while True:
            await self.limiter.acquire()
            self.tally.add(requests=1, bytes_sent=batch.size)
            token = self.pacing.started(batch.size, failures > 0) if self.pacing else None
            outcome = await self.sender.post(batch.path, batch.body)
            if token is not None:
                self.pacing.answered(token, outcome)  # type: ignore[union-attr]
            if outcome.kind is Kind.UNAUTHORIZED:
                raise credentials_refused(outcome.status or 401, self.sender.base_url)
            if outcome.kind is Kind.NOT_FOUND and not batch.path.startswith(V1_PATHS):
                raise wrong_endpoint(self.sender.base_url, batch.path, outcome.status or 404)
            refuse_odd(outcome, self.sender.base_url, batch.path)
            if outcome.kind is not Kind.RETRY:
                return outcome
            failures += 1
            if failures >= self.policy.attempts:
                raise RetriesExhausted(
                    f"a request failed {'once' if failures == 1 else f'{failures} times in a row'} "
                    f"(last: {outcome.detail}); "
                    "the API or the network is not answering")
            self.tally.add(retries=1)
            if self.retrying is not None:
                self.retrying(outcome.detail or f"HTTP {outcome.status}", failures,
                              self.policy.attempts)
            if outcome.retry_after is not None:
                self._check_wait(outcome)
                self.limiter.pause(outcome.retry_after)
                await self._wait(outcome.retry_after)
            else:
                delay = self.policy.delay(failures - 1, self.rng)
                if delay >= SAY_WAIT and self.waiting is not None:
                    self.waiting(f"waiting {delay:,.1f} s before retrying ({outcome.detail}, "
                                 f"{failures} failures in a row)")
                await self._wait(delay)

    def _check_wait(self, outcome: Outcome) -> None:
        """A Retry-After over `max_wait` stops the run (resumable); a long one is said."""
        seconds = outcome.retry_after or 0.0
        if seconds > self.max_wait:
            back = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() + seconds)) \
                if seconds < 10 * 365 * 86400 else "the API says it is ready"
            raise WaitTooLong(
                f"the API answered {outcome.detail} and asked to wait {seconds:,.0f} s "
                f"(Retry-After), longer than --max-wait {self.max_wait:g} s: stopped instead of "
                f"waiting; run the same command again after {back}, or raise --max-wait")
        if seconds >= SAY_WAIT and self.waiting is not None:
            self.waiting(f"waiting {seconds:,.1f} s: the API answered {outcome.detail} "
                         "with Retry-After")

    def _breaker(self, batch: Batch, outcome: Outcome) -> None:
        """Stop when whole requests keep being refused with 400: splitting every body down to
        single operations would only multiply the requests something refuses."""
        if outcome.kind is not Kind.BAD_REQUEST:
            self.refused_in_a_row = 0
            return
        self.refused_in_a_row += 1
        if self.refused_in_a_row >= BREAKER_400:
            what = "; ".join(error_reason(e) for e in outcome.errors) or outcome.detail
            raise ApiRefusing(
                f"{self.sender.base_url}{batch.path} answered HTTP 400 to {self.refused_in_a_row} "
                f"requests in a row (last: {what[:200]}): something refuses every body (a "
                "firewall or proxy in the way, or a mapping whose every operation is invalid); "
                "stopped instead of splitting each body to single operations. Rows already "
                "refused are in the rejects file; fix the cause and run the same command again")

    async def _wait(self, seconds: float) -> None:
        """The pause before a retry; a stopped run does not wait for it (the body is not
        delivered: its rows stay undone in the checkpoint). Its slot of the adaptive window
        is lent meanwhile."""
        with self.pacing.rest() if self.pacing is not None else contextlib.nullcontext():
            await self._sleep(seconds)

    async def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if self.stopping is not None and self.stopping.is_set():
                raise Interrupted("interrupted while a request waited to retry")
            await asyncio.sleep(min(left, 0.1))

    def _refused(self, batch: Batch, outcome: Outcome) -> set[int]:
        """The operations a 207 (or errors in a 2xx) refused, each written as a reject. An
        error that names no operation of this body (no `batch_index`, out of range, not an
        integer) may be about any of them: every operation it did not name is refused too."""
        indexes: set[int] = set()
        unplaced = []
        for error in outcome.errors:
            index = error.get("batch_index")
            if type(index) is int and 0 <= index < batch.operations:
                if index not in indexes:
                    indexes.add(index)
                    self._api_reject(batch, index, error_reason(error))
            else:
                unplaced.append(f"{error_reason(error)} (batch_index {index!r})")
        if unplaced:
            reason = (f"the API answered HTTP {outcome.status} with an error naming no "
                      f"operation of this body ({'; '.join(unplaced)[:300]}): this operation "
                      "may not have been accepted")
            for index in range(batch.operations):
                if index not in indexes:
                    indexes.add(index)
                    self._api_reject(batch, index, reason)
        return indexes

    def _api_reject(self, batch: Batch, index: int, reason: str) -> None:
        self.tally.add(operations_rejected=1)
        record = orjson.loads(batch.operation(index))
        if batch.path != V2_PATH:
            record = {"path": batch.path, "operation": record}
        self.tally.reject(Reject(self.input_names[batch.inputs[index]], batch.rows[index], None, None,
                           reason, "api", record, f"api: {reason[:80]}"))
