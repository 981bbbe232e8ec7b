"""HTTP to the Track API: one aiohttp client session, and what each answer means for the caller.

`classify` is pure (status, headers, body -> Outcome); `Sender.post` does the I/O and translates
network errors into a retryable outcome at this boundary.

aiohttp rather than httpx: httpx's connection pool asks every idle connection whether it is
readable through anyio's attribute lookups, and anyio's cancel scopes ask for the current task
at each step. That CPU is taken from the encoders, with which the event loop shares the GIL
(`bench/http_cost.py` measures both; BENCHMARKS.md has the figures).
"""

from __future__ import annotations

import asyncio
import base64
import math
import os
import ssl
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from backfill._version import __version__
from backfill.delivery.transport import HttpTransport, Transport
from backfill.errors import (
    CredentialsRefused,
    EndpointUnreachable,
    NotTrackApi,
    Redirected,
    WrongEndpoint,
)

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
    REDIRECT = "redirect"  # 3xx: never followed (a POST would become a GET, or go elsewhere)
    NOT_API = "not_api"  # a 2xx or 400 whose body is not the API's JSON (a proxy, a portal)


@dataclass
class Outcome:
    kind: Kind
    status: int | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    retry_after: float | None = None
    detail: str = ""


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
        return None if math.isnan(seconds) else max(seconds, 0.0)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            from datetime import UTC, datetime

            return max((parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds(), 0.0)
        except (TypeError, ValueError):
            return None


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _errors(body: bytes) -> list[dict[str, Any]]:
    data = _json_object(body) if body else {}
    if data is None:
        return []
    errors = data.get("errors")
    if errors is None and isinstance(data.get("meta"), dict):  # v1: {"meta": {"errors": [..]}}
        errors = [{"message": str(m)} for m in data["meta"].get("errors") or []]
    return [e if isinstance(e, dict) else {"message": str(e)} for e in errors or []]


def _shown(body: bytes, limit: int = 120) -> str:
    text = " ".join(body[:limit].decode(errors="replace").split())
    return repr(text) if text else "an empty body"


def classify(status: int, headers: Mapping[str, str], body: bytes,
             empty_ok: bool = False) -> Outcome:
    """What an answer means. Only the API's own success counts as delivered: a 2xx (but 204,
    which has no body) or a 400 whose body is not a JSON object is not the Track API's.
    `empty_ok`: an empty 2xx is the API's too (the v1 endpoints, whose 200 the published
    document gives no body; a portal in the way answers the region check first)."""
    if 300 <= status < 400:
        return Outcome(Kind.REDIRECT, status,
                       detail=f"HTTP {status} to {headers.get('location') or '(no Location)'}")
    if empty_ok and 200 <= status < 300 and not body.strip():
        return Outcome(Kind.OK, status)
    if status in (400, *range(200, 300)) and status != 204 and _json_object(body) is None:
        return Outcome(Kind.NOT_API, status,
                       detail=f"HTTP {status} with {_shown(body)} "
                              f"({headers.get('content-type') or 'no content type'})")
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


def credentials_refused(status: int, base_url: str, nothing_sent: bool = False
                        ) -> CredentialsRefused:
    """A 401/403: the Site ID, the API key or the region is wrong; nothing more is sent."""
    return CredentialsRefused(
        f"the Track API refused the credentials (HTTP {status} from {base_url}): check "
        "CUSTOMERIO_SITE_ID and CUSTOMERIO_API_KEY (or --site-id/--api-key) and the region"
        + ("; nothing was sent" if nothing_sent else ""))


def wrong_endpoint(base_url: str, path: str, status: int) -> WrongEndpoint:
    """A 404/405 for a path of the API itself: --endpoint is not the API's root."""
    return WrongEndpoint(
        f"{base_url}{path} answered HTTP {status}: {base_url} is not the root of a Track API. "
        "--endpoint takes the root (https://track.customer.io, https://track-eu.customer.io, "
        "or the emulator's http://127.0.0.1:PORT), without /api/... or another path")


def refuse_odd(outcome: Outcome, base_url: str, path: str, nothing_sent: bool = False) -> None:
    """Raise for an answer that is not the Track API's: a redirect (never followed) or a body
    that is not its JSON. Nothing of the request counts as delivered."""
    sent = "; nothing was sent" if nothing_sent else \
        "; nothing it answered was counted as delivered"
    if outcome.kind is Kind.REDIRECT:
        raise Redirected(
            f"{base_url}{path} answered {outcome.detail}: redirects are never followed (a POST "
            "would be re-sent as a GET, or your data posted to another host). Set --endpoint "
            "to the API's own root, or --region us|eu for Customer.io (the EU region is "
            f"https://track-eu.customer.io){sent}")
    if outcome.kind is Kind.NOT_API:
        raise NotTrackApi(
            f"{base_url}{path} answered {outcome.detail}: that is not the Track API (a proxy, "
            "a captive portal or another server is in the way). Check --endpoint, the region "
            f"and HTTPS_PROXY{sent}")


NETWORK = (aiohttp.ClientError, asyncio.TimeoutError)  # refused, reset, closed, timed out
UNREACHABLE = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)


def tls_context() -> ssl.SSLContext:
    """Verified TLS: the CA bundle of `SSL_CERT_FILE`/`SSL_CERT_DIR` when set (a proxy's own
    CA, say), else certifi's, as httpx did."""
    if os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context()
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def env_proxy(url: str) -> str | None:
    """The proxy the environment names for this URL (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`,
    as curl and httpx read them), or None."""
    parts = urlsplit(url)
    if not parts.hostname or urllib.request.proxy_bypass(parts.hostname):
        return None
    return urllib.request.getproxies().get(parts.scheme)


class Sender:
    """Posts bodies to one base URL with Basic auth; never logs the credentials. The requests
    go through `transport` (default: aiohttp, made in the running event loop at the first
    request; `delivery/transport.py`)."""

    def __init__(self, base_url: str, site_id: str, api_key: str, concurrency: int = 8,
                 timeout: float = 30.0, transport: Transport | None = None):
        self.base_url = base_url.rstrip("/")
        secret = base64.b64encode(f"{site_id}:{api_key}".encode()).decode()
        self._headers = {"content-type": "application/json", "authorization": f"Basic {secret}",
                         "user-agent": f"backfill/{__version__}"}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self.tls = tls_context() if self.base_url.startswith("https:") else None
        self.proxy = env_proxy(self.base_url)
        self._own = transport is None  # a caller's transport is the caller's to close
        self.transport: Transport = transport or HttpTransport(concurrency, self.tls, self.proxy)

    async def _request(self, method: str, path: str, body: bytes | None = None,
                       timeout: aiohttp.ClientTimeout | None = None
                       ) -> tuple[int, Mapping[str, str], bytes]:
        return await self.transport.request(method, self.base_url + path, body, self._headers,
                                            timeout or self._timeout)

    async def post(self, path: str, body: bytes) -> Outcome:
        try:
            status, headers, content = await self._request("POST", path, body)
        except NETWORK as exc:
            return Outcome(Kind.RETRY, None, detail=f"{type(exc).__name__}: {exc}".strip())
        return classify(status, headers, content, empty_ok=path.startswith("/api/v1/"))

    async def check(self, attempts: int = 3) -> str | None:
        """One cheap authenticated request before anything is sent (the region lookup, which
        every Track API host serves): an endpoint that cannot be reached, refuses the
        credentials or is not the API's root stops the run within seconds, with nothing sent.
        Other answers are left to the run's retries (returned as a note)."""
        failed: Exception | None = None
        for attempt in range(attempts):
            try:
                status, headers, content = await self._request(
                    "GET", REGION_PATH, timeout=aiohttp.ClientTimeout(total=10.0, connect=5.0))
            except aiohttp.ClientConnectorCertificateError as exc:
                raise EndpointUnreachable(
                    f"{self.base_url}'s TLS certificate is not trusted ({exc.certificate_error})"
                    ": if it is signed by your own CA (a proxy's, say), set SSL_CERT_FILE to "
                    "that CA's bundle; nothing was sent") from None
            except UNREACHABLE as exc:
                failed = exc
                await asyncio.sleep(0.5 * 2 ** attempt if attempt + 1 < attempts else 0)
                continue
            except NETWORK as exc:
                return f"checking {self.base_url}: {type(exc).__name__}; the requests retry"
            if status in (401, 403):
                raise credentials_refused(status, self.base_url, nothing_sent=True)
            if status in (404, 405):
                raise wrong_endpoint(self.base_url, REGION_PATH, status)
            refuse_odd(classify(status, headers, content), self.base_url, REGION_PATH,
                       nothing_sent=True)
            return None if status < 400 else \
                f"checking {self.base_url}: HTTP {status}; the requests retry"
        raise EndpointUnreachable(
            f"cannot reach {self.base_url} ({type(failed).__name__}: {failed}), tried "
            f"{attempts} times: check --endpoint (or the region) and the network; nothing was "
            "sent")

    async def region(self) -> str:
        """Ask /api/v1/accounts/region which host serves this workspace."""
        try:
            status, headers, content = await self._request("GET", REGION_PATH)
        except NETWORK as exc:
            raise EndpointUnreachable(f"cannot reach {self.base_url}: {exc}; pass --region "
                                      "us|eu to skip the lookup, or --endpoint") from None
        if status in (401, 403):
            raise credentials_refused(status, self.base_url, nothing_sent=True)
        refuse_odd(classify(status, headers, content), self.base_url, REGION_PATH,
                   nothing_sent=True)
        if status != 200:
            raise EndpointUnreachable(f"{self.base_url}/api/v1/accounts/region answered HTTP "
                                      f"{status}; pass --region us|eu to skip "
                                      "the lookup, or --endpoint")
        try:
            data = orjson.loads(content)
        except orjson.JSONDecodeError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        return str(data.get("url") or REGIONS.get(str(data.get("region")), self.base_url))

    async def aclose(self) -> None:
        if self._own:
            await self.transport.aclose()
