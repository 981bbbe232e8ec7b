"""HTTP to the Track API: one httpx.AsyncClient, and what each answer means for the caller.

`classify` is pure (status, headers, body -> Outcome); `Sender.post` does the I/O and translates
httpx's network errors into a retryable outcome at this boundary.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import httpx
import orjson

from backfill._version import __version__
from backfill.errors import CredentialsRefused, EndpointUnreachable, WrongEndpoint

REGION_PATH = "/api/v1/accounts/region"
REGIONS = {"us": "https://track.customer.io", "eu": "https://track-eu.customer.io"}


class Kind(Enum):
    OK = "ok"  # every operation accepted
    PARTIAL = "partial"  # some operations refused (207, or errors in a 2xx body): rejects
    BAD_REQUEST = "bad_request"  # 400 for the whole request: split to find the bad operations
    TOO_LARGE = "too_large"  # 413: split
    UNAUTHORIZED = "unauthorized"  # 401/403: stop at once
    NOT_FOUND = "not_found"  # 404/405: the endpoint is wrong (or a v1 request's id unknown)
    RETRY = "retry"  # 429, 5xx, timeouts, lost connections


@dataclass
class Outcome:
    kind: Kind
    status: int | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    retry_after: float | None = None
    detail: str = ""


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            from datetime import UTC, datetime

            return max((parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds(), 0.0)
        except (TypeError, ValueError):
            return None


def _errors(body: bytes) -> list[dict[str, Any]]:
    try:
        data = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        return []
    if not isinstance(data, dict):
        return []
    errors = data.get("errors")
    if errors is None and isinstance(data.get("meta"), dict):  # v1: {"meta": {"errors": [..]}}
        errors = [{"message": str(m)} for m in data["meta"].get("errors") or []]
    return [e if isinstance(e, dict) else {"message": str(e)} for e in errors or []]


def classify(status: int, headers: httpx.Headers, body: bytes) -> Outcome:
    if status in (401, 403):
        return Outcome(Kind.UNAUTHORIZED, status, detail=body[:300].decode(errors="replace"))
    if status == 429 or status >= 500 or status == 408:
        return Outcome(Kind.RETRY, status, retry_after=_retry_after(headers),
                       detail=f"HTTP {status}")
    if status == 413:
        return Outcome(Kind.TOO_LARGE, status)
    if status in (404, 405):
        return Outcome(Kind.NOT_FOUND, status, _errors(body),
                       detail=f"HTTP {status} {body[:200].decode(errors='replace')}".strip())
    if 200 <= status < 300:
        errors = _errors(body)
        return Outcome(Kind.PARTIAL if errors else Kind.OK, status, errors)
    errors = _errors(body)
    return Outcome(Kind.BAD_REQUEST, status, errors,
                   detail=body[:500].decode(errors="replace"))


def error_reason(error: dict[str, Any]) -> str:
    """The API's words for one refused operation."""
    parts = [str(error[k]) for k in ("reason", "field", "message") if error.get(k)]
    return ": ".join(parts) or orjson.dumps(error).decode()


def wrong_endpoint(base_url: str, path: str, status: int) -> WrongEndpoint:
    """A 404/405 for a path of the API itself: --endpoint is not the API's root."""
    return WrongEndpoint(
        f"{base_url}{path} answered HTTP {status}: {base_url} is not the root of a Track API. "
        "--endpoint takes the root (https://track.customer.io, https://track-eu.customer.io, "
        "or the emulator's http://127.0.0.1:PORT), without /api/... or another path")


class Sender:
    """Posts bodies to one base URL with Basic auth; never logs the credentials."""

    def __init__(self, base_url: str, site_id: str, api_key: str, concurrency: int = 8,
                 timeout: float = 30.0, transport: httpx.AsyncBaseTransport | None = None):
        self.base_url = base_url.rstrip("/")
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self.client = httpx.AsyncClient(
            base_url=self.base_url, auth=httpx.BasicAuth(site_id, api_key), limits=limits,
            timeout=httpx.Timeout(timeout), transport=transport,
            headers={"content-type": "application/json",
                     "user-agent": f"backfill/{__version__}"},
        )

    async def post(self, path: str, body: bytes) -> Outcome:
        try:
            response = await self.client.post(path, content=body)
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            return Outcome(Kind.RETRY, None, detail=f"{type(exc).__name__}: {exc}".strip())
        return classify(response.status_code, response.headers, response.content)

    async def check(self, attempts: int = 3) -> str | None:
        """One cheap authenticated request before the input is read (the region lookup, which
        every Track API host serves): an endpoint that cannot be reached, refuses the
        credentials or is not the API's root stops the run within seconds, with nothing sent.
        Other answers are left to the run's retries (returned as a note)."""
        failed: Exception | None = None
        for attempt in range(attempts):
            try:
                response = await self.client.get(REGION_PATH, timeout=httpx.Timeout(
                    10.0, connect=5.0))
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                failed = exc
                await asyncio.sleep(0.5 * 2 ** attempt if attempt + 1 < attempts else 0)
                continue
            except httpx.HTTPError as exc:
                return f"checking {self.base_url}: {type(exc).__name__}; the requests retry"
            status = response.status_code
            if status in (401, 403):
                raise CredentialsRefused(
                    f"the Track API refused the credentials (HTTP {status} from "
                    f"{self.base_url}): check "
                    "CUSTOMERIO_SITE_ID and CUSTOMERIO_API_KEY (or --site-id/--api-key) and the "
                    "region; nothing was sent")
            if status in (404, 405):
                raise wrong_endpoint(self.base_url, REGION_PATH, status)
            return None if status < 400 else \
                f"checking {self.base_url}: HTTP {status}; the requests retry"
        raise EndpointUnreachable(
            f"cannot reach {self.base_url} ({type(failed).__name__}: {failed}), tried "
            f"{attempts} times: check --endpoint (or the region) and the network; nothing was "
            "sent")

    async def region(self) -> str:
        """Ask /api/v1/accounts/region which host serves this workspace."""
        try:
            response = await self.client.get(REGION_PATH)
        except httpx.HTTPError as exc:
            raise EndpointUnreachable(f"cannot reach {self.base_url}: {exc}; pass --region "
                                      "us|eu to skip the lookup, or --endpoint") from None
        if response.status_code in (401, 403):
            raise CredentialsRefused(
                "the Track API refused the credentials while looking up the region: check "
                "CUSTOMERIO_SITE_ID and CUSTOMERIO_API_KEY (or --site-id/--api-key)")
        if response.status_code != 200:
            raise EndpointUnreachable(f"{self.base_url}/api/v1/accounts/region answered HTTP "
                                      f"{response.status_code}; pass --region us|eu to skip "
                                      "the lookup, or --endpoint")
        data = response.json()
        return str(data.get("url") or REGIONS.get(str(data.get("region")), self.base_url))

    async def aclose(self) -> None:
        await self.client.aclose()
