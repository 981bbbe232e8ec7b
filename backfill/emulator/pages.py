"""The rehearsal workspace's pages, server-rendered on `/` of the emulator behind its
credentials (a browser asks for them): an overview with live counts and a chart, people
(searched, paged over millions) and each person's page, objects, the request log with every
body pretty and raw, and the findings. Jinja2 templates with every value escaped (the data is
untrusted); the chart is uPlot, vendored in `static/` with its licence, so the pages need no
internet. Reads of the store only: `views.py` gives the same data as JSON."""

from __future__ import annotations

import asyncio
import datetime
import sqlite3
from importlib import resources
from typing import Any
from urllib.parse import quote

import orjson
from aiohttp import web
from jinja2 import Environment, PackageLoader, select_autoescape

from backfill.emulator import views

PAGE = 50
FINDINGS_FRESH_S = 60.0  # the pages' findings (a scan of every attribute) are at most this old
PAGE_WAIT_S = 1.0  # a page waits at most this for the workspace, then says how far it is
STATIC = {"uPlot.iife.min.js": "text/javascript", "uPlot.min.css": "text/css",
          "pages.js": "text/javascript", "pages.css": "text/css"}
TITLES = {"attribute_names_differing_by_case": "Attribute names that differ only by case",
          "attributes_of_mixed_types": "Attributes whose JSON type differs between people",
          "times_out_of_range": "Times before 1970 or after 2100",
          "times_in_milliseconds": "Times that look like milliseconds",
          "emails_that_are_not_emails": "email attributes that are not emails",
          "recent_events": "Events from the last 72 hours (they can trigger campaigns)",
          "people_without_attributes": "People with no attributes at all"}


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), "null")


def when(seconds: float | None) -> str:
    if seconds is None:
        return ""
    try:
        return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime(
            "%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return f"{seconds} (not a time)"


ENV = Environment(loader=PackageLoader("backfill.emulator", "templates"),
                  autoescape=select_autoescape(default=True, default_for_string=True))
ENV.filters.update(json_type=json_type, when=when, path=lambda v: quote(str(v), safe=""),
                   compact=lambda v: orjson.dumps(v).decode())


class Pages:
    """The handlers, over the store's connection and its in-memory counts."""

    def __init__(self, store: Any):
        self.store = store

    def routes(self) -> list[web.RouteDef]:
        return [web.get(path, self._page(handler)) for path, handler in (
            ("/", self.overview), ("/people", self.people), ("/people/{id}", self.person),
            ("/objects", self.objects), ("/objects/{type}/{id}", self.an_object),
            ("/requests", self.requests), ("/requests/{id}", self.a_request),
            ("/findings", self.all_findings))] + [web.get("/static/{name}", self.static)]

    def _page(self, handler):  # type: ignore[no-untyped-def]
        async def page(request: web.Request) -> web.Response:
            db = self.store.db
            if db is None or self.store.workspace is None:
                return web.Response(status=404, text=views.NO_WORKSPACE)
            current = await self.store.settled(PAGE_WAIT_S)
            template, data = await asyncio.to_thread(  # beside the loop: it keeps answering
                lambda: handler(self.store.reading(), request))
            data["behind"] = 0 if current else self.store.behind()
            if template is None:
                return web.Response(status=404, text="not found", content_type="text/plain")
            return web.Response(text=ENV.get_template(template).render(**data),
                                content_type="text/html")
        return page

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in STATIC:
            raise web.HTTPNotFound()
        body = resources.files("backfill.emulator").joinpath("static", name).read_bytes()
        return web.Response(body=body, content_type=STATIC[name],
                            headers={"Cache-Control": "max-age=3600"})

    def overview(self, db: sqlite3.Connection, _request: web.Request) -> tuple[str, dict]:
        series = db.execute(
            "SELECT CAST(received AS INTEGER), COUNT(*), COALESCE(SUM(operations), 0) FROM "
            "requests GROUP BY 1 ORDER BY 1 DESC LIMIT 3600").fetchall()[::-1]
        faults = {str(k): v for k, v in dict(self.store.statuses).items() if k in (0, 429, 503)}
        as_of, found = self.store.findings(FINDINGS_FRESH_S)
        return "overview.html", {"summary": views.summary(db, dict(self.store.kinds)),
                                 "faults": faults, "findings_as_of": as_of,
                                 "series": [[r[0] for r in series], [r[1] for r in series],
                                            [r[2] for r in series]],
                                 "findings": found, "titles": TITLES}

    def people(self, db: sqlite3.Connection, request: web.Request) -> tuple[str, dict]:
        found = views.people(db, request)
        return "people.html", {**found, "q": request.query.get("q", "")}

    def person(self, db: sqlite3.Connection, request: web.Request) -> tuple[str | None, dict]:
        found = views.person(db, request)
        if found is None:
            return None, {}
        found["requests"] = db.execute(
            f"SELECT id, path, status, size, received FROM requests WHERE id IN "  # noqa: S608
            f"({','.join('?' * len(found['requests']))}) ORDER BY id DESC",
            found["requests"]).fetchall()
        return "person.html", {"p": found, "key": request.match_info["id"]}

    def objects(self, db: sqlite3.Connection, request: web.Request) -> tuple[str, dict]:
        after = (request.query.get("type", ""), request.query.get("after", ""))
        rows = db.execute("SELECT type, id, attributes FROM ws_objects WHERE (type, id) > (?, ?)"
                          " ORDER BY type, id LIMIT ?", (*after, PAGE + 1)).fetchall()
        return "objects.html", {"objects": [(t, i, orjson.loads(a)) for t, i, a in rows[:PAGE]],
                                "next": rows[PAGE - 1][:2] if len(rows) > PAGE else None}

    def an_object(self, db: sqlite3.Connection, request: web.Request) -> tuple[str | None, dict]:
        found = views.an_object(db, request)
        return ("object.html", {"o": found}) if found else (None, {})

    def requests(self, db: sqlite3.Connection, request: web.Request) -> tuple[str, dict]:
        try:
            before = int(request.query.get("before", "0") or 0) or None
        except ValueError:
            raise web.HTTPBadRequest(text="before is a request's number") from None
        rows = db.execute("SELECT id, received, path, status, size, operations, latency_ms FROM "
                          "requests WHERE ? IS NULL OR id < ? ORDER BY id DESC LIMIT ?",
                          (before, before, PAGE + 1)).fetchall()
        return "requests.html", {"rows": rows[:PAGE],
                                 "next": rows[PAGE - 1][0] if len(rows) > PAGE else None}

    def a_request(self, db: sqlite3.Connection, request: web.Request) -> tuple[str | None, dict]:
        row = db.execute("SELECT id, received, path, status, size, operations, latency_ms FROM "
                         "requests WHERE id = ?", (request.match_info["id"],)).fetchone()
        if row is None:
            return None, {}
        ops = [(i, t, a, body, _pretty(body)) for i, t, a, body in db.execute(
            "SELECT idx, type, action, body FROM operations WHERE request_id = ? ORDER BY idx",
            (row[0],))]
        return "request.html", {"r": row, "ops": ops}

    def all_findings(self, _db: sqlite3.Connection, _request: web.Request) -> tuple[str, dict]:
        as_of, found = self.store.findings(FINDINGS_FRESH_S)
        return "findings.html", {"findings": found, "titles": TITLES, "findings_as_of": as_of}


def _pretty(body: str) -> str:
    try:
        return orjson.dumps(orjson.loads(body), option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONDecodeError:  # stored as sent, and not JSON we can read again
        return body
