"""A Track API in memory, for tests: `backfill.run(..., transport=MemoryApi())` sends no byte
over a network, and the API object holds what it received.

    from backfill.testing import MemoryApi

    api = MemoryApi()
    report = backfill.run("people.yaml", frame, site_id="s", api_key="k", transport=api,
                          checkpoint="people.checkpoint.json")
    assert api.operations[0]["identifiers"] == {"id": "u1"}

It answers as the emulator does: the region lookup, `200 {}` for a batch whose operations pass
the emulator's checks, and a 207 naming each one that does not (which then becomes a reject),
204 for forms. `answer` replaces that for chosen requests: return `(status, body)` to answer
with it (a 503, a 429 with no Retry-After), or None to answer as usual; raise
`aiohttp.ClientConnectionError` for a lost connection.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import orjson

from backfill.delivery.transport import Answer, MemoryTransport
from backfill.emulator.checks import check_operation

Request = tuple[str, str, bytes | None]  # method, path, body


class MemoryApi(MemoryTransport):
    """What it received: `requests` (method, path, body) and the `operations` it accepted."""

    def __init__(self, answer: Callable[[str, str, bytes | None], tuple[int, bytes] | None]
                 | None = None):
        super().__init__(self._handle)
        self.answer = answer
        self.requests: list[Request] = []
        self.operations: list[dict[str, Any]] = []
        self._lock = threading.Lock()  # the endpoint's check answers from another thread

    def _handle(self, method: str, url: str, body: bytes | None,
                headers: Mapping[str, str]) -> Answer | tuple[int, bytes]:
        path = urlsplit(url).path
        with self._lock:
            self.requests.append((method, path, body))
        special = self.answer(method, path, body) if self.answer else None
        if special is not None:
            return special
        if path == "/api/v1/accounts/region":
            return 200, b'{"url": "https://track.customer.io", "region": "us"}'
        if path == "/api/v2/batch":
            return self._batch(orjson.loads(body or b"{}").get("batch") or [])
        if path == "/api/v2/entity":
            return self._batch([orjson.loads(body or b"{}")], single=True)
        with self._lock:
            self.operations.append({"path": path, "body": orjson.loads(body or b"{}")})
        return Answer(204, {}, b"") if path.endswith("/submit") else (200, b"{}")

    def _batch(self, ops: list[Any], single: bool = False) -> tuple[int, bytes]:
        errors, accepted = [], []
        for i, op in enumerate(ops):
            problem = check_operation(op)
            if problem:
                errors.append({"batch_index": i, "reason": "invalid", "field": problem[0],
                               "message": problem[1]})
            else:
                accepted.append(op)
        with self._lock:
            self.operations.extend(accepted)
        if errors and single:
            return 400, orjson.dumps({"errors": [{k: v for k, v in errors[0].items()
                                                  if k != "batch_index"}]})
        return (207, orjson.dumps({"errors": errors})) if errors else (200, b"{}")
