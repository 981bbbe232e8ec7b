"""The adaptive window and rate as pure logic on an injected clock: a simulated distant API with
a capacity schedule (a token bucket answering 429 + Retry-After beyond it), and properties: the
limits stay within their bounds, never grow in an interval that saw back-pressure, and a pause
is at least the Retry-After."""

from __future__ import annotations

import asyncio
import heapq

from hypothesis import given, settings
from hypothesis import strategies as st

from backfill.delivery.adaptive import MIN_RATE, Rate, Window, little
from backfill.delivery.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def simulate(schedule: list[tuple[float, float]], requests: int, rtt: float = 0.1,
             ceiling_rate: float = 1000.0, ceiling: int = 256, retry_after: float = 1.0
             ) -> dict:
    """A client of `Window` and `Rate` against a server whose capacity follows `schedule`
    ((from second, requests/s)), with a bucket of a tenth of a second's capacity, as nginx's
    limit_req with burst: until `requests` were accepted. Steps of a millisecond. The model is
    harsher than nginx (`bench/distant.py` measures 1.2-1.3x where it says 1.35-1.45x): a
    throttled request is lost here, not retried, and each 429 pauses from its own arrival."""
    clock = Clock()
    window, rate = Window(ceiling, 8, clock=clock), Rate(ceiling_rate, clock=clock)
    answers: list[tuple[float, int, bool]] = []  # (due, in flight at start, accepted)
    tokens, last_fill, next_send, paused, in_flight = schedule[0][1] / 10, 0.0, 0.0, 0.0, 0
    accepted = throttled = sent = 0
    windows, rates = [], []
    while accepted < requests and clock.now < 600:
        capacity = next(c for at, c in reversed(schedule) if clock.now >= at)
        tokens = min(capacity / 10, tokens + (clock.now - last_fill) * capacity)
        last_fill = clock.now
        while answers and answers[0][0] <= clock.now:
            _, at_start, ok = heapq.heappop(answers)
            in_flight -= 1
            if ok:
                accepted += 1
                rate.success()
                # a backlog always waits here: the window binds whenever it is full
                window.success(rtt, window.allowed, little(rate.rate, window.base_rtt()))
            else:
                throttled += 1
                window.backpressure()
                rate.throttled(window.recent or rtt, retry_after)
                paused = max(paused, clock.now + retry_after)
            windows.append(window.limit)
            rates.append(rate.rate)
        while (in_flight < window.allowed and clock.now >= next_send
               and clock.now >= paused):
            ok = tokens >= 1
            tokens -= 1 if ok else 0
            in_flight += 1
            sent += 1
            heapq.heappush(answers, (clock.now + rtt, in_flight, ok))
            next_send = max(next_send, clock.now - 0.5 / rate.rate) + 1 / rate.rate
        clock.now += 0.001
    return {"elapsed": clock.now, "accepted": accepted, "throttled": throttled,
            "sent": sent, "windows": windows, "rates": rates}


def ideal(schedule: list[tuple[float, float]], requests: int) -> float:
    t, left = 0.0, float(requests)
    for (at, capacity), (nxt, _) in zip(schedule, [*schedule[1:], (1e9, 0)], strict=True):
        if left <= capacity * (nxt - at):
            return t + left / capacity
        left -= capacity * (nxt - at)
        t = nxt
    return t


def test_a_steady_capacity_is_found_with_few_429s():
    got = simulate([(0, 300)], 10_000)
    assert got["accepted"] == 10_000
    assert got["elapsed"] <= 1.5 * ideal([(0, 300)], 10_000), got["elapsed"]
    assert got["throttled"] / got["sent"] <= 0.01
    assert 250 <= sorted(got["rates"])[len(got["rates"]) // 2] <= 360  # settles near 300


def test_a_capacity_that_drops_and_comes_back_is_followed():
    schedule = [(0, 300), (10, 100), (20, 300)]
    got = simulate(schedule, 10_000)
    assert got["accepted"] == 10_000
    assert got["elapsed"] <= 1.6 * ideal(schedule, 10_000), got["elapsed"]
    assert got["throttled"] / got["sent"] <= 0.10


def test_far_away_and_unthrottled_the_window_reaches_rate_times_latency():
    got = simulate([(0, 100_000)], 20_000, rtt=0.15)
    assert got["accepted"] == 20_000 and got["throttled"] == 0
    assert max(got["windows"]) >= 150  # 1,000/s at 150 ms needs 150 in flight
    assert got["elapsed"] <= 1.1 * 20.0  # the rate, 1,000/s, is what binds
    assert max(got["windows"]) <= little(1000.0, 0.15) + 1


events = st.lists(st.one_of(
    st.tuples(st.just("ok"), st.floats(0.001, 2.0), st.integers(1, 300)),
    st.tuples(st.just("pressure"), st.just(0.0), st.just(0)),
    st.tuples(st.just("wait"), st.floats(0.0, 3.0), st.just(0))), max_size=300)


@settings(max_examples=200, deadline=None)
@given(events, st.integers(1, 300))
def test_the_window_stays_within_bounds_and_never_grows_right_after_pressure(steps, ceiling):
    clock = Clock()
    window = Window(ceiling, 8, clock=clock)
    pressure_at = None
    for kind, value, in_flight in steps:
        before = window.limit
        if kind == "ok":
            window.success(value, in_flight)
            recent_pressure = pressure_at is not None and clock.now - pressure_at < \
                (window.recent or 0.0)
            if recent_pressure:
                assert window.limit <= before
        elif kind == "pressure":
            window.backpressure()
            pressure_at = clock.now
            assert window.limit <= before
        else:
            clock.now += value
        assert window.floor <= window.allowed <= ceiling
        assert 1 <= window.limit <= ceiling


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.floats(0.0, 2.0)), max_size=300),
       st.floats(1.0, 5000.0))
def test_the_rate_stays_within_bounds_and_a_429_never_raises_it(steps, ceiling):
    clock = Clock()
    rate = Rate(ceiling, clock=clock)
    for ok, wait in steps:
        before = rate.rate
        if ok:
            rate.success()
        else:
            rate.throttled(0.1, 1.0)
            assert rate.rate <= before
        clock.now += wait
        assert MIN_RATE <= rate.rate <= ceiling


@settings(max_examples=100, deadline=None)
@given(st.floats(0.0, 30.0), st.floats(1.0, 2000.0))
def test_a_pause_holds_every_caller_at_least_the_retry_after(pause, rate):
    clock = Clock()

    async def sleep(seconds: float) -> None:
        clock.now += seconds

    limiter = RateLimiter(rate, clock=clock, sleep=sleep)

    async def go() -> list[float]:
        limiter.pause(pause)
        times = []
        for _ in range(3):
            await limiter.acquire()
            times.append(clock.now)
            limiter.set_rate(max(1.0, rate / 2))  # the adaptive rate moves meanwhile
        return times

    times = asyncio.run(go())
    assert times[0] >= pause - 1e-9 and times == sorted(times)


def test_a_429_lowers_the_rate_to_what_the_api_accepted():
    clock = Clock()
    rate = Rate(1000.0, clock=clock)
    for _ in range(300):  # 300 accepted in the last second, evenly
        rate.success()
        clock.now += 1 / 300
    rate.throttled(0.1, 1.0)
    assert 0.8 * 300 <= rate.rate <= 300  # BETA x about 300, not 1,000
    clock.now += 0.05
    rate.throttled(0.1, 1.0)  # the same burst of 429s: one decrease a round trip
    assert rate.rate >= 0.8 * 300


def test_a_real_run_far_away_grows_its_window_and_says_so(tmp_path):
    """The runner's path: a server on loopback answering each request after 100 ms; form
    submissions, a request a row. The window grows past the fixed 8 and the report says it."""
    from click.testing import CliRunner
    from helpers import write
    from helpers.hostile import Hostile

    from backfill.cli import cli

    async def slowly(method, path, body):
        await asyncio.sleep(0.1)
        if path == "/api/v1/accounts/region":
            return 200, {"content-type": "application/json"}, b'{"region": "us"}'
        return 204, {}, b""

    mapping = write(tmp_path / "m.yaml", "version: 1\noperations:\n  - {type: form, action: "
                    "submit, form_id: {value: contact}, data: {email: email}}\n")
    data = write(tmp_path / "f.csv", "email\n" + "".join(f"v{i}@x.com\n" for i in range(600)))
    with Hostile(slowly) as api:
        result = CliRunner().invoke(cli, ["run", str(mapping), str(data), "--endpoint", api.url,
                                          "--quiet", "--report", str(tmp_path / "r.json")],
                                    env={"CUSTOMERIO_SITE_ID": "s", "CUSTOMERIO_API_KEY": "k"})
    assert result.exit_code == 0, result.output
    import orjson
    sending = orjson.loads((tmp_path / "r.json").read_bytes())["sending"]
    assert api.posts == 600 and sending["adaptive"] is True
    assert sending["concurrency"]["max"] >= 32 and sending["throttled"] == 0
    assert 100 <= sending["latency_ms"]["p50"] < 200
    assert "in flight (median" in result.output


def test_idle_workers_waiting_for_a_slot_leave_nothing_behind(monkeypatch):
    """Workers that wait past the safety net (a long run with a small window) take their
    waiter with them: the queue of waiters never grows with the run's length."""
    import backfill.delivery.pacing as module

    monkeypatch.setattr(module, "NET", 0.005)  # 5 s in a long run; 60 rounds here

    async def go() -> list[int]:
        pacing = module.Pacing(1, 1000.0, RateLimiter(1000.0))
        pacing.window.limit = 1.0
        stop = asyncio.Event()

        async def worker() -> None:
            async with pacing.slot(stop.is_set) as admitted:
                if admitted:
                    await stop.wait()

        tasks = [asyncio.create_task(worker()) for _ in range(20)]
        sizes = []
        for _ in range(6):
            await asyncio.sleep(0.05)
            sizes.append(len(pacing._waiters))
        stop.set()
        pacing.wake_all()
        await asyncio.gather(*tasks)
        return sizes

    sizes = asyncio.run(go())
    assert max(sizes) <= 19, sizes  # one waiter per waiting worker, however long they wait


def test_after_an_outage_the_window_climbs_back_fast():
    """Ten seconds of lost connections take the window to its floor; once answers come back
    it grows as in slow start up to half where the streak began (TCP's ssthresh), in a few
    round trips rather than one more a round trip."""
    clock = Clock()
    window = Window(256, 16, clock=clock)
    for _ in range(40):  # a ramp to the window a far API needs
        window.success(0.1, window.allowed)
        clock.now += 0.02
    peak = window.limit
    for _ in range(100):  # the outage: a lost connection every 0.1 s
        window.backpressure()
        clock.now += 0.1
    assert window.allowed == 1
    trips = 0
    while window.limit < peak / 2 and trips < 50:
        for _ in range(window.allowed):
            window.success(0.1, window.allowed)
        clock.now += 0.1
        trips += 1
    assert trips <= 8, (trips, peak, window.limit)  # tripling: 1 -> 40 in about 4


def test_the_first_429_of_a_run_measures_the_capacity_over_a_round_trip():
    """The window still grows when the first 429 comes: 40 answers in the 30 ms since the first
    (a 100 ms round trip) say 400/s, not 40 over the usual quarter second (160/s)."""
    clock = Clock()
    rate = Rate(1000.0, clock=clock)
    clock.now = 0.1
    for _ in range(40):
        rate.success()
        clock.now += 0.03 / 40
    rate.throttled(0.1, 1.0)
    assert 0.8 * 400 <= rate.rate <= 400, rate.rate
    for _ in range(300):  # then a second of 300/s, and a 429: measured as usual
        clock.now += 1 / 300
        rate.success()
    rate.throttled(0.1, 1.0)
    assert 0.8 * 300 <= rate.rate <= 0.95 * 400, rate.rate


def test_past_the_last_maximum_with_no_429_the_rate_doubles_a_second():
    """A capacity that came back (100/s, then 300/s) is found within seconds of passing the
    last maximum, not along the cubic's convex side (8 s to three times it)."""
    clock = Clock()
    rate = Rate(1000.0, clock=clock)
    for _ in range(200):
        clock.now += 1 / 100
        rate.success()
    rate.throttled(0.1, 1.0)
    last_max = rate.last_max
    assert last_max is not None
    crossed = None
    while clock.now < 30 and rate.rate < 3 * last_max:
        clock.now += 0.01
        rate.success()
        if crossed is None and rate.rate >= 1.1 * last_max:
            crossed = clock.now
    assert crossed is not None and rate.rate >= 3 * last_max
    assert clock.now - crossed <= 1.6 + 0.02  # log2(3 / 1.1) seconds of doubling


def test_a_429_below_the_last_maximum_drops_further_the_capacity_fell():
    clock = Clock()
    rate = Rate(1000.0, clock=clock)
    for _ in range(300):
        clock.now += 1 / 300
        rate.success()
    rate.throttled(0.1, 1.0)  # at about 300: the last maximum
    assert rate.last_max is not None
    below = rate.rate
    clock.now += 1.0  # the pause
    for _ in range(200):  # on the plateau, below the last maximum: 200/s accepted
        clock.now += 1 / 200
        rate.success()
    assert rate.rate <= rate.last_max
    rate.throttled(0.1, 1.0)
    assert rate.rate <= 0.81 * 200 and rate.rate < below  # 0.8 x the 201/s measured
