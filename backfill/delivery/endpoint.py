"""Where the run sends, checked before anything is sent: the endpoint's form (a usage error,
exit 2, at once), then one request (`Sender.check`: unreachable, refused or not the API's root
stops the run within seconds, exit 3 or 4), made while the input begins to be read
(`EndpointCheck`). And how retries are said while they happen."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from urllib.parse import urlsplit

from tqdm import tqdm

from backfill.delivery.sender import REGIONS, Sender
from backfill.delivery.transport import Transport
from backfill.errors import UsageError
from backfill.runfiles.report import plural
from backfill.runfiles.tally import Tally


def endpoint_url(text: str) -> str:
    """`--endpoint` as a root URL: http(s)://host[:port][/prefix], without a trailing `/`."""
    parts = urlsplit(text.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        guess = f"http://{text.strip()}" if "://" not in text else None
        hint = f": write {guess} (or https://...)" if guess else \
            ": the Track API is served over http:// or https://"
        raise UsageError(f"--endpoint {text!r} is not an http(s) URL{hint}; nothing was sent")
    if parts.username is not None or parts.password is not None:
        raise UsageError("--endpoint holds a user name or password (user:key@host): it would "
                         "show in process lists, logs and resume commands. Give the bare URL "
                         f"({parts.scheme}://{parts.netloc.rpartition('@')[2]}"
                         "), and the credentials in CUSTOMERIO_SITE_ID and CUSTOMERIO_API_KEY; "
                         "nothing was sent")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        raise UsageError(f"--endpoint {text!r}: the port is not a number from 1 to "
                         "65535; nothing was sent") from None
    return text.strip().rstrip("/")


async def checked_endpoint(endpoint: str | None, region: str | None, site_id: str,
                           api_key: str, timeout: float, transport: Transport | None = None
                           ) -> tuple[str, str | None]:
    """The API's root URL, checked with one request, and a note when the check could not say
    (a 5xx: the run's retries take over)."""
    base = endpoint_url(endpoint) if endpoint else REGIONS.get(region or "")
    probe = Sender(base or REGIONS["us"], site_id, api_key, 1, timeout, transport)
    try:
        if base is None:  # region auto: the lookup is the check
            return await probe.region(), None
        return base, await probe.check()
    finally:
        await probe.aclose()


class EndpointCheck:
    """`checked_endpoint` in a thread of its own, begun before the input is read, so that its
    round trip (a distant API's 200 ms) overlaps the reading of the first rows instead of
    coming before it. Nothing is sent before its answer (`wait`); a form that is not a URL is a
    usage error at once."""

    def __init__(self, endpoint: str | None, region: str | None, site_id: str, api_key: str,
                 timeout: float, transport: Transport | None = None):
        if endpoint:
            endpoint_url(endpoint)
        self.future: Future[tuple[str, str | None]] = Future()
        threading.Thread(target=self._check, name="endpoint check", daemon=True, args=(
            endpoint, region, site_id, api_key, timeout, transport)).start()

    def _check(self, *args: object) -> None:
        try:
            answer = asyncio.run(checked_endpoint(*args))  # type: ignore[arg-type]
        except BaseException as exc:  # raised where the answer is awaited
            with contextlib.suppress(InvalidStateError):  # nobody waits any more (`wait`)
                self.future.set_exception(exc)
            return
        with contextlib.suppress(InvalidStateError):
            self.future.set_result(answer)

    def result(self) -> tuple[str, str | None]:
        """The root URL and a note, waiting for them (an error of the check raised here)."""
        return self.future.result()

    async def wait(self, stopped: Callable[[], bool]) -> tuple[str, str | None] | None:
        """`result()` in an event loop; None when the run is stopped first."""
        answer = asyncio.wrap_future(self.future)
        while not stopped():
            done, _ = await asyncio.wait([answer], timeout=0.1)
            if done:
                return answer.result()
        answer.cancel()
        return None


def say_retries(tally: Tally, every: float = 5.0) -> Callable[[str, int, int], None]:
    """A `Delivery.retrying` callback: one line on stderr at most every `every` seconds."""
    last = [-every]

    def say(detail: str, failures: int, attempts: int) -> None:
        now = time.monotonic()
        if now - last[0] >= every:
            last[0] = now
            tries = plural(tally.get("retries"), "retry", "retries")
            tqdm.write(f"retrying: {detail} (try {failures + 1} of {attempts} for one request; "
                       f"{tries} so far)", file=sys.stderr)
    return say


def say_wait(text: str) -> None:
    """A `Delivery.waiting` callback: a long wait is said on stderr, under --quiet too (a run
    that pauses for a minute must not look stuck)."""
    tqdm.write(f"note: {text}", file=sys.stderr)
