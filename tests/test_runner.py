"""`runner.py`: bodies to the API, resumably, through the transport it is given (here a Track
API in memory: no socket). Several requests in flight are acknowledged row by row in the
checkpoint; a run the API stops resumes from it and sends each row once in all."""

from __future__ import annotations

import socket

import orjson
import polars as pl
import pytest

import backfill
from backfill.testing import MemoryApi

ROWS = 2000
MAPPING = {"version": 1, "operations": [{
    "type": "person", "action": "identify", "identifiers": {"id": "user_id"},
    "attributes": {"bio": "bio"}}]}
FRAME = pl.DataFrame({"user_id": [f"u{i}" for i in range(ROWS)],
                      "bio": [f"{i:04d}" + "x" * 900 for i in range(ROWS)]})  # 4+ bodies


@pytest.fixture(autouse=True)
def no_sockets(monkeypatch):
    def refuse(*_args, **_kwargs):
        raise AssertionError("a socket was connected")
    monkeypatch.setattr(socket.socket, "connect", refuse)


def delivered(api: MemoryApi) -> list[str]:
    """The ids of the operations the API accepted (a 2xx), in the order it took them."""
    return [op["identifiers"]["id"] for op in api.operations]


def run(tmp_path, api: MemoryApi, **options):
    return backfill.run(MAPPING, FRAME, site_id="s", api_key="k", transport=api,
                        endpoint="https://track.example.test", checkpoint=tmp_path / "c.json",
                        rejects=tmp_path / "r.ndjson", concurrency=4, adaptive=False,
                        **options)


def test_every_row_is_sent_once_with_requests_in_flight(tmp_path):
    api = MemoryApi()
    report = run(tmp_path, api)
    assert report.exit_code == 0 and report.operations_delivered == ROWS
    assert sorted(delivered(api)) == sorted(FRAME["user_id"].to_list())
    assert len([p for _, p, _ in api.requests if p == "/api/v2/batch"]) == report.requests >= 4


def test_a_run_the_api_stops_resumes_from_its_checkpoint_and_sends_each_row_once(tmp_path):
    taken = {"n": 0}

    def failing(method, path, body):  # two bodies accepted, then the API is down
        if path != "/api/v2/batch":
            return None
        taken["n"] += 1
        return None if taken["n"] <= 2 else (503, b"{}")

    down = MemoryApi(failing)
    with pytest.raises(backfill.Stopped, match="failed once"):
        run(tmp_path, down, retries=1)
    first = delivered(down)
    assert 0 < len(first) < ROWS
    kept = orjson.loads((tmp_path / "c.json").read_bytes())
    assert kept["counters"]["operations_delivered"] == len(first)  # what was acknowledged
    healthy = MemoryApi()
    resumed = run(tmp_path, healthy)
    assert resumed.exit_code == 0
    second = delivered(healthy)
    assert sorted(first + second) == sorted(FRAME["user_id"].to_list())  # each once in all
    assert resumed.operations_delivered == ROWS  # counted on from the stopped run's
