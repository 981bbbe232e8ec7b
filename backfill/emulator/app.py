"""A local Track API for rehearsals and tests, on aiohttp, storing accepted operations in SQLite.

Serves /api/v2/batch, /api/v2/entity, /api/v1/accounts/region and the v1 endpoints of
docs/track-api.md with the documented limits, Basic auth, 207 answers for invalid items, and optional
faults (5xx, 429 with Retry-After, dropped connections, latency). `/_emulator/stats` reports what
it saw, including the most requests in any one-second window.
"""

from __future__ import annotations

import asyncio
import base64
import random
import time
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from backfill.emulator import views
from backfill.emulator.checks import MAX_BODY, MAX_OP, check_operation, raw_items, split_items
from backfill.emulator.pages import Pages
from backfill.emulator.store import Store

STARTED = web.RequestKey("started", float)  # when a request arrived, for its latency


@dataclass
class Faults:
    fail_rate: float = 0.0  # 503
    throttle_rate: float = 0.0  # 429 with Retry-After
    drop_rate: float = 0.0  # connection closed without an answer
    latency_ms: tuple[float, float] = (0.0, 0.0)
    retry_after: float = 1.0
    seed: int | None = None
    lost_answer_rate: float = 0.0  # processed and stored, then the connection closed


class Emulator:
    """The aiohttp application and its state."""

    def __init__(self, site_id: str, api_key: str, store: Store, faults: Faults | None = None,
                 max_body: int = MAX_BODY, invalid: str = "207", region: str = "us"):
        self.credentials = "Basic " + base64.b64encode(f"{site_id}:{api_key}".encode()).decode()
        self.store = store
        self.faults = faults or Faults()
        self.random = random.Random(self.faults.seed)
        self.max_body = max_body
        self.invalid = invalid  # "207": refuse items; "400": refuse the whole batch
        self.region = region
        self.base_url = ""

    def app(self) -> web.Application:
        # a body over the limit is refused as it arrives (413), never read whole first
        app = web.Application(client_max_size=max(self.max_body, MAX_OP) + 1,
                              middlewares=[self._gate])
        app.add_routes([
            web.post("/api/v2/batch", self.batch),
            web.post("/api/v2/entity", self.entity),
            web.get("/api/v1/accounts/region", self.account_region),
            web.post("/api/v1/segments/{segment}/add_customers", self.segment),
            web.post("/api/v1/segments/{segment}/remove_customers", self.segment),
            web.post("/api/v1/forms/{form}/submit", self.form),
            web.put("/api/v1/customers/{identifier}", self.v1_generic),
            web.delete("/api/v1/customers/{identifier}", self.v1_generic),
            web.post("/api/v1/customers/{identifier}/events", self.v1_generic),
            web.post("/api/v1/events", self.v1_generic),
            web.put("/api/v1/customers/{identifier}/devices", self.v1_generic),
            web.post("/api/v1/customers/{identifier}/suppress", self.v1_generic),
            web.post("/api/v1/customers/{identifier}/unsuppress", self.v1_generic),
            web.post("/api/v1/merge_customers", self.v1_generic),
            web.post("/api/v1/metrics", self.v1_generic),
            web.get("/_emulator/stats", self.stats),
            *views.routes(self.store),  # the workspace the operations leave
            *Pages(self.store).routes(),  # and its pages
        ])
        app.on_startup.append(self._start_applying)
        return app

    async def _start_applying(self, _app: web.Application) -> None:
        self.store.start_applying()  # the workspace, on another core while serving

    @web.middleware
    async def _gate(self, request: web.Request, handler):  # type: ignore[no-untyped-def]
        request[STARTED] = time.perf_counter()
        if not request.path.startswith("/api/"):  # pages and /_emulator/: the same
            if request.headers.get("Authorization") != self.credentials:  # credentials
                return web.json_response(  # a browser asks for them
                    {"meta": {"error": "Unauthorized request"}}, status=401,
                    headers={"WWW-Authenticate": 'Basic realm="backfill emulator"'})
            return await handler(request)  # and no faults
        f = self.faults
        lo, hi = f.latency_ms
        if hi > 0:
            await asyncio.sleep(self.random.uniform(lo, hi) / 1000)
        roll = self.random.random()
        if roll < f.drop_rate:
            await request.read()
            if request.transport is not None:
                request.transport.close()
            self.store.seen(0)
            raise asyncio.CancelledError  # nothing is answered
        if roll < f.drop_rate + f.fail_rate:
            return self._answer(web.json_response({"errors": [{"message": "unavailable"}]},
                                                  status=503))
        if roll < f.drop_rate + f.fail_rate + f.throttle_rate:
            return self._answer(web.json_response(
                {"errors": [{"message": "too many requests"}]}, status=429,
                headers={"Retry-After": f"{f.retry_after:g}"}))
        if request.headers.get("Authorization") != self.credentials:
            return self._answer(web.json_response({"meta": {"error": "Unauthorized request"}},
                                                  status=401))
        try:
            response = await handler(request)
        except ConnectionResetError:  # the client went away mid-request (killed, say)
            self.store.seen(0)
            return web.Response(status=499)
        if f.lost_answer_rate and self.random.random() < f.lost_answer_rate:
            self.store.lost_answers += 1
            self.store.seen(0)
            if request.transport is not None:
                request.transport.close()  # stored, but the client never hears of it
            raise asyncio.CancelledError
        return self._answer(response)

    def _answer(self, response: web.StreamResponse) -> web.StreamResponse:
        self.store.seen(response.status)
        return response

    async def batch(self, request: web.Request) -> web.Response:
        body = await request.read()
        if len(body) > self.max_body:
            return web.json_response({"errors": [{"reason": "too_large", "message":
                                      f"body is {len(body)} bytes; the limit is "
                                      f"{self.max_body}"}]}, status=413)
        if self.store.count_only:  # benchmarks: check the JSON and count, nothing per operation
            items = raw_items(body)
            if items is not None:
                self.store.operations += len(items)
                return web.json_response({})
        items = split_items(body)
        if items is None:
            return web.json_response({"errors": [{"reason": "invalid", "field": "batch",
                                                  "message": "body must be {\"batch\": [...]}"}]},
                                     status=400)
        errors, accepted = [], []
        for i, raw in enumerate(items):
            try:
                op = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:  # nested deeper than any JSON reader takes
                op, problem = None, ("", f"operation is not JSON we can read: {exc}")
            else:
                problem = ("", f"operation is {len(raw)} bytes; the limit is {MAX_OP}") \
                    if len(raw) > MAX_OP else check_operation(op)
            if problem:
                errors.append({"batch_index": i, "reason": "invalid", "field": problem[0],
                               "message": problem[1]})
            else:
                accepted.append((i, op, raw))
        if errors and self.invalid == "400":
            return web.json_response({"errors": [{k: v for k, v in e.items()
                                                  if k != "batch_index"} for e in errors]},
                                     status=400)
        status = 207 if errors else 200
        self.store.record(request.path, status, accepted, len(body), request[STARTED])
        return web.json_response({"errors": errors} if errors else {}, status=status)

    async def entity(self, request: web.Request) -> web.Response:
        body = await request.read()
        if len(body) > MAX_OP:
            return web.json_response({"errors": [{"reason": "too_large"}]}, status=413)
        try:
            op = orjson.loads(body)
        except orjson.JSONDecodeError:
            return web.json_response({"errors": [{"reason": "invalid", "message": "not JSON"}]},
                                     status=400)
        problem = check_operation(op)
        if problem:
            return web.json_response({"errors": [{"reason": "invalid", "field": problem[0],
                                                  "message": problem[1]}]}, status=400)
        self.store.record(request.path, 200, [(0, op, body)], len(body), request[STARTED])
        return web.json_response({})

    async def account_region(self, request: web.Request) -> web.Response:
        url = self.base_url or f"{request.scheme}://{request.host}"
        return web.json_response({"url": url, "region": self.region, "environment_id": 1})

    async def segment(self, request: web.Request) -> web.Response:
        data = await _v1_body(request)
        if isinstance(data, web.Response):
            return data
        ids = data.get("ids")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 1000:
            return _v1_error("ids: 1 to 1000 ids")
        action = request.path.rsplit("/", 1)[-1]
        op = {"type": "segment", "action": action, "segment_id": request.match_info["segment"],
              "id_type": request.query.get("id_type", "id"), "ids": ids}
        return self._v1_record(request.path, op, web.json_response({}))

    async def form(self, request: web.Request) -> web.Response:
        data = await _v1_body(request)
        if isinstance(data, web.Response):
            return data
        fields = data.get("data")
        if not isinstance(fields, dict) or not (fields.get("id") or fields.get("email")):
            return _v1_error("data must include id or email")
        op = {"type": "form", "action": "submit", "form_id": request.match_info["form"],
              "data": fields}
        return self._v1_record(request.path, op, web.Response(status=204))

    async def v1_generic(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            data = orjson.loads(body) if body else {}
        except orjson.JSONDecodeError:
            return web.json_response({"meta": {"errors": ["body is not JSON"]}}, status=400)
        op = {"type": "v1", "action": f"{request.method} {request.path}", "data": data}
        return self._v1_record(request.path, op, web.json_response({}))

    def _v1_record(self, path: str, op: dict[str, Any], answer: web.Response) -> web.Response:
        """Store a v1 request's operation and give its answer; a 400 when it is nested too
        deeply to be stored as JSON."""
        try:
            stored = orjson.dumps(op)
        except orjson.JSONEncodeError:
            return _v1_error("body is nested too deeply")
        self.store.record(path, answer.status, [(0, op, stored)])
        return answer

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.store.stats())


def _v1_error(message: str) -> web.Response:
    return web.json_response({"meta": {"errors": [message]}}, status=400)


async def _v1_body(request: web.Request) -> dict[str, Any] | web.Response:
    """A v1 request's JSON object, or the 400 that says it is not one."""
    try:
        data = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return _v1_error("body is not JSON")
    return data if isinstance(data, dict) else _v1_error("body is not a JSON object")
