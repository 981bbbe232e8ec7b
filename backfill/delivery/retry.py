"""Delivering one packed body: rate limit, retries with backoff, splits, and API rejects.

A body is done when every operation in it was accepted or refused by the API (207, or a 400 for a
single operation). 429, 5xx and lost connections are retried with exponential backoff and jitter;
a Retry-After pauses every worker. 400 and 413 split the body in halves until the bad operations
are isolated. 401/403 stop the run at once, and so does a 404/405 for /api/v2 (the endpoint is not
the API's root); a v1 request's 404 rejects its rows (its segment or form may not exist).
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from backfill.contract import V2_PATH, Batch, Reject
from backfill.delivery.ratelimit import RateLimiter
from backfill.delivery.sender import (
    Kind,
    Outcome,
    Sender,
    credentials_refused,
    error_reason,
    wrong_endpoint,
)
from backfill.errors import Interrupted, RetriesExhausted
from backfill.state.tally import Tally

# v1 paths name a segment or form: their 404 may be that id's, and rejects the request's rows
V1_PATHS = ("/api/v1/segments/", "/api/v1/forms/")


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
                 retrying: Callable[[str, int, int], None] | None = None):
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
            outcome = await self.sender.post(batch.path, batch.body)
            if outcome.kind is Kind.UNAUTHORIZED:
                raise credentials_refused(outcome.status or 401, self.sender.base_url)
            if outcome.kind is Kind.NOT_FOUND and not batch.path.startswith(V1_PATHS):
                raise wrong_endpoint(self.sender.base_url, batch.path, outcome.status or 404)
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
                self.limiter.pause(outcome.retry_after)
                await self._wait(outcome.retry_after)
            else:
                await self._wait(self.policy.delay(failures - 1, self.rng))

    async def _wait(self, seconds: float) -> None:
        """The pause before a retry; a stopped run does not wait for it (the body is not
        delivered: its rows stay undone in the checkpoint)."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if self.stopping is not None and self.stopping.is_set():
                raise Interrupted("interrupted while a request waited to retry")
            await asyncio.sleep(min(left, 0.1))

    def _refused(self, batch: Batch, outcome: Outcome) -> set[int]:
        indexes = set()
        for error in outcome.errors:
            index = error.get("batch_index")
            if isinstance(index, int) and 0 <= index < batch.operations:
                if index not in indexes:
                    indexes.add(index)
                    self._api_reject(batch, index, error_reason(error))
            else:  # an error we cannot place: keep it, attached to the whole body
                self.tally.reject(Reject(self.input_names[batch.inputs[0]], batch.rows[0], None, None,
                                   f"the API reported an error for this request: "
                                   f"{error_reason(error)}", "api", None, "api error"))
        return indexes

    def _api_reject(self, batch: Batch, index: int, reason: str) -> None:
        self.tally.add(operations_rejected=1)
        record = orjson.loads(batch.operation(index))
        if batch.path != V2_PATH:
            record = {"path": batch.path, "operation": record}
        self.tally.reject(Reject(self.input_names[batch.inputs[index]], batch.rows[index], None, None,
                           reason, "api", record, f"api: {reason[:80]}"))
