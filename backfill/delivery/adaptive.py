"""How many requests may be in flight, and how fast they may start: two controllers that follow
the network and the API. Pure logic over an injected clock (`runner` feeds them outcomes).

- `Window`, the concurrency: TCP-like. It triples each round trip while the limit is what binds
  (slow start), then grows by one a round trip (additive increase); it shrinks by `DECREASE` on
  back-pressure (429, 503, a timeout, a lost connection) and by `INFLATE_DECREASE` when latency
  inflates (the recent mean round trip over `INFLATION` times the fastest seen lately, plus
  `SLACK`; never below `INFLATE_FLOOR` for that), at most once a round trip. It never exceeds
  Little's law for the current rate (rate x the fastest round trip x `HEADROOM`: more in flight
  would only queue at the rate limit), the byte budget, or the `--concurrency` ceiling. This is
  Vector's Adaptive Request Concurrency (AIMD on round trips and back-pressure) with TCP's slow
  start, to reach 150 in flight in a few round trips, and the idea of Netflix
  concurrency-limits' Vegas of comparing with the no-load round trip (its pitfall, a minimum
  that drifts, is why the fastest is remembered over a sliding window only); each attempt is
  timed on its own, not its retries together.
- `Rate`, the pace: CUBIC on a rate, as the AWS SDKs' adaptive retry mode. A 429 lowers the
  rate to `BETA` x the rate the API was accepting (measured over its recent answers, never
  reaching back into a Retry-After pause) and remembers that rate as the last maximum (a
  little below it when it fell: CUBIC's fast convergence); then the rate grows along a cubic
  curve: fast while far below the last maximum, slowly near it (where the API throttled); a
  tenth past it with no 429, the capacity grew (a limit raised again), and the rate doubles a
  second until the API throttles (the cubic's own convex side is slow to find a capacity
  several times larger). The first 429 of a run, which comes while the window still grows, is
  measured over one round trip of answers: the few answers of a run's first round trip, over
  the usual quarter second, understate the capacity. `--rate` is the ceiling. At most one
  decrease a round trip (a burst of 429s answering the requests in flight together is one
  signal).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

DECREASE = 0.7  # the window after back-pressure
INFLATE_DECREASE = 0.9  # the window after latency inflation
INFLATION = 2.0  # recent mean round trip / fastest recent one, above which latency inflated
SLACK = 0.05  # seconds over that, too: near a loopback, our own CPU inflates round trips
INFLATE_FLOOR = 8  # inflation alone never takes the window below this (the fixed default)
HEADROOM = 1.5  # in flight allowed over rate x fastest round trip (jitter, larger bodies)
BETA = 0.9  # the rate after a 429, times the rate accepted just before it
BETA_FELL = 0.8  # the same, for a 429 below the last maximum: the capacity fell
# CUBIC's constant, per s^3, as a share of the last maximum: from the plateau, three times the
# last maximum is reached in 8 s (a capacity that came back is found), while the plateau
# itself lasts K = cbrt((1 - BETA) / SCALE) = 2.9 s (few probes past a capacity that stays)
SCALE = 0.004
# once the cubic passes the last maximum by a tenth with no 429, the capacity grew (a limit
# raised again): the rate doubles a second from there, not along the cubic's slow convex side
PROBE_FROM = 1.1
PROBE_GROWTH = 2.0
ACCEPTED_S = 0.25  # the accepted rate is measured over at least this long (or two round trips)
WINDOW_S = 2.0  # and over the answers of at most this long
SAMPLES = 20  # of which at least this many
MIN_RATE = 0.5  # requests/s: a throttled run still probes
RTT_WINDOW = 10.0  # seconds over which the fastest round trip is remembered
ALPHA = 0.3  # weight of the newest round trip in the recent mean


@dataclass
class Window:
    """The concurrency limit: `limit` requests in flight at most (a float; `allowed` rounds)."""

    ceiling: int  # --concurrency
    limit: float = 8.0
    floor: int = 1
    clock: Callable[[], float] = time.monotonic
    slow_start: bool = True
    # TCP's ssthresh: half the window where a streak of back-pressure began; below it the
    # window grows as in slow start again (an outage that took it to 1 is left in seconds)
    threshold: float = math.inf
    grew: bool = True  # the window grew since the last decrease: a new streak would begin
    fastest: deque[tuple[float, float]] = field(default_factory=deque)  # (when, seconds)
    recent: float | None = None  # EWMA of round trips
    last_change: float = -math.inf
    last_pressure: float = -math.inf

    def __post_init__(self) -> None:
        self.limit = float(min(max(self.limit, self.floor), self.ceiling))

    @property
    def allowed(self) -> int:
        return max(self.floor, min(self.ceiling, int(self.limit)))

    def base_rtt(self) -> float | None:
        """The fastest round trip of the last `RTT_WINDOW` seconds: the no-load latency."""
        return min(s for _, s in self.fastest) if self.fastest else None

    def _observe(self, seconds: float) -> None:
        now = self.clock()
        while self.fastest and self.fastest[-1][1] >= seconds:
            self.fastest.pop()  # a monotone deque: the minimum of a sliding window
        self.fastest.append((now, seconds))
        while self.fastest and self.fastest[0][0] < now - RTT_WINDOW:
            self.fastest.popleft()
        self.recent = seconds if self.recent is None else \
            ALPHA * seconds + (1 - ALPHA) * self.recent

    def _may_change(self) -> bool:
        """At most one decrease a round trip (the recent mean one)."""
        return self.clock() - self.last_change >= (self.recent or 0.0)

    def success(self, seconds: float, in_flight: int, cap: float | None = None) -> None:
        """An attempt answered by the API in `seconds`, started with `in_flight` requests out
        (itself included); `cap`: Little's law for the current rate (`little`)."""
        self._observe(seconds)
        base = self.base_rtt() or seconds
        if self.recent is not None and self.recent > INFLATION * base + SLACK:
            self._decrease(INFLATE_DECREASE, INFLATE_FLOOR)
            return
        if in_flight >= self.allowed and self.clock() - self.last_pressure >= self.recent:
            # the limit bound, and no back-pressure within a round trip: room to grow
            fast = self.slow_start or self.limit < self.threshold
            self.limit += 2.0 if fast else 1.0 / max(self.limit, 1.0)
            self.grew = True
        top = self.ceiling if cap is None else min(self.ceiling, max(cap, self.floor))
        if self.limit > top:
            self.limit = float(top)

    def backpressure(self) -> None:
        """A 429, a 5xx, a timeout or a lost connection."""
        self.last_pressure = self.clock()
        self._decrease(DECREASE)

    def _decrease(self, factor: float, least: float = 0.0) -> None:
        if not self._may_change():
            return
        if self.grew:  # a streak of back-pressure begins here
            self.threshold = max(float(self.floor), self.limit / 2)
            self.grew = False
        self.slow_start = False
        self.limit = max(float(self.floor), min(self.limit, least), self.limit * factor)
        self.last_change = self.clock()


def little(rate: float, base_rtt: float | None) -> float | None:
    """The requests in flight that `rate` needs at the no-load round trip, with headroom."""
    if base_rtt is None:
        return None
    return rate * base_rtt * HEADROOM + 2


@dataclass
class Rate:
    """The sending rate: `rate` requests/s, at most `ceiling` (--rate)."""

    ceiling: float
    clock: Callable[[], float] = time.monotonic
    rate: float = 0.0
    last_max: float | None = None  # the capacity estimated when the API last throttled
    since: float = 0.0  # when it last throttled
    scale: float = SCALE  # of the cubic: slower while the capacity found stays the same
    last_drop: float = -math.inf
    resumed: float = -math.inf  # when sending resumed after the last Retry-After pause
    answers: deque[tuple[float, bool]] = field(default_factory=deque)  # (when, accepted)
    probing: tuple[float, float] | None = None  # (since, rate) growing by PROBE_GROWTH a second

    def __post_init__(self) -> None:
        self.rate = self.rate or self.ceiling

    @property
    def k(self) -> float:
        """CUBIC's time from a decrease back to the last maximum."""
        return ((1 - BETA) / self.scale) ** (1 / 3)

    def capacity(self, over: float) -> tuple[float | None, bool]:
        """The rate the API accepted lately, over the answers of the last `WINDOW_S` seconds
        (never reaching back into a pause) and at least `over` seconds, and whether they were
        `SAMPLES` or more (else it is a guess). (None, False) when there were none."""
        now = self.clock()
        while self.answers and self.answers[0][0] < now - WINDOW_S:
            self.answers.popleft()
        seen = [(when, ok) for when, ok in self.answers if when >= self.resumed]
        if not seen:
            return None, False
        # what was accepted a second, over `over` at least: with the rate not binding (the
        # input is slower), that is what was sent, not the rate allowed
        accepted = sum(ok for _, ok in seen) / max(now - seen[0][0], over)
        return accepted, len(seen) >= SAMPLES

    def success(self) -> None:
        now = self.clock()
        self.answers.append((now, True))
        if self.last_max is None:
            return
        if self.probing is not None:  # past the last maximum: the capacity grew
            began, start = self.probing
            grown = start * PROBE_GROWTH ** (now - began)
        else:
            t = now - self.since
            grown = self.scale * self.last_max * (t - self.k) ** 3 + self.last_max
            if grown >= PROBE_FROM * self.last_max:
                self.probing = (now, grown)
        self.rate = min(self.ceiling, max(self.rate, grown))

    def throttled(self, round_trip: float, pause: float = 0.0) -> None:
        """A 429: down to BETA x the capacity it shows, at most once a round trip; `pause`:
        its Retry-After, after which sending resumes at the lowered rate."""
        now = self.clock()
        self.answers.append((now, False))
        # the first 429 of a run comes while the window still grows, a round trip or two
        # after the first answers: their number over a round trip is what the API took
        first = self.last_max is None
        found, measured = self.capacity(max(round_trip, 0.05) if first else
                                        max(ACCEPTED_S, 2 * round_trip))
        self.resumed = max(self.resumed, now + pause)
        if now - self.last_drop < max(round_trip, 0.05):
            return
        # a guess from a few answers (just after a pause) halves the rate at most: it may say 0
        found = min(self.rate, found if found is not None else self.rate)
        found = max(found, MIN_RATE, 0.0 if measured else self.rate / 2)
        stable = self.last_max is not None and abs(found - self.last_max) <= 0.1 * self.last_max
        self.scale = SCALE / 2 if stable else SCALE  # a capacity that stays: probe gently
        # below the last maximum, where the API took everything before, the capacity fell
        fell = self.last_max is not None and self.rate <= self.last_max
        rate = max(MIN_RATE, found * (BETA_FELL if fell else BETA))
        if self.last_max is not None and found < self.last_max:
            found *= (1 + BETA) / 2  # CUBIC's fast convergence: the plateau below it this time
        self.last_max, self.since, self.last_drop = found, now, now
        self.rate, self.probing = rate, None
