"""The network seam (`delivery/transport.py`, `backfill.testing.MemoryApi`): a whole run with
no socket, its answers chosen by the test (207s, 503s, lost connections), and rejects received
as they happen beside the file."""

from __future__ import annotations

import socket

import aiohttp
import orjson
import polars as pl
import pytest

import backfill
from backfill.testing import MemoryApi

MAPPING = {
    "version": 1,
    "operations": [{"type": "person", "action": "identify", "identifiers": {"id": "user_id"},
                    "attributes": {"email": "email", "seats": {"column": "seats",
                                                               "as": "int"}}}],
}
ROWS = pl.DataFrame({"user_id": ["u1", "u2", "u3", "bad@"],
                     "email": ["a@example.com", "b@example.com", "c@example.com", "d@x.io"],
                     "seats": ["1", "two", "3", "4"]})


@pytest.fixture
def no_sockets(monkeypatch):
    """Any connection attempt fails the test: the run must not touch the network."""
    def refuse(*_args, **_kwargs):
        raise AssertionError("a socket was connected")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


def run(tmp_path, api: MemoryApi, **options):
    return backfill.run(MAPPING, ROWS, site_id="s", api_key="k", transport=api,
                        endpoint="https://track.example.test",
                        checkpoint=tmp_path / "c.json", rejects=tmp_path / "r.ndjson",
                        **options)


def test_a_run_through_memory_sends_nothing_over_a_network_and_streams_its_rejects(
        tmp_path, no_sockets):
    refused = {"u3"}

    def answer(method, path, body):  # the API refuses u3's operation, as a 207 says
        if path != "/api/v2/batch":
            return None
        ops = orjson.loads(body)["batch"]
        errors = [{"batch_index": i, "reason": "invalid", "message": "no"}
                  for i, op in enumerate(ops) if op["identifiers"]["id"] in refused]
        return (207, orjson.dumps({"errors": errors})) if errors else None

    api, seen = MemoryApi(answer), []
    report = run(tmp_path, api, on_reject=seen.append)
    assert [(r.row, r.stage) for r in seen] == [(1, "mapping"), (2, "api")]  # as they happen
    assert [orjson.loads(line)["row"] for line in
            (tmp_path / "r.ndjson").read_bytes().splitlines()] == [1, 2]  # and in the file
    assert api.requests[0][:2] == ("GET", "/api/v1/accounts/region")  # the endpoint's check
    assert [b for m, p, b in api.requests if p == "/api/v2/batch"]
    assert report.operations_delivered == 2 and report.exit_code == 1


def test_answers_chosen_by_the_test_are_retried_as_the_api_s_would_be(tmp_path, no_sockets):
    faults = ["503", "lost", "429"]

    def answer(method, path, body):
        if path != "/api/v2/batch" or not faults:
            return None
        fault = faults.pop(0)
        if fault == "lost":
            raise aiohttp.ServerDisconnectedError()
        return (int(fault), b'{"errors": [{"message": "busy"}]}')

    api = MemoryApi(answer)
    report = run(tmp_path, api, sending=backfill.Sending(retries=5))
    assert faults == [] and report.retries == 3
    assert sorted(op["identifiers"]["id"] for op in api.operations) == ["bad@", "u1", "u3"]
    assert report.operations_delivered == 3 and report.exit_code == 1  # u2's seats: a reject


def test_an_operation_the_api_would_refuse_is_refused_in_memory_too(tmp_path):
    """MemoryApi checks operations as the emulator does: an identifier over 150 bytes."""
    api = MemoryApi()
    long = pl.DataFrame({"user_id": ["x" * 151], "email": ["a@example.com"], "seats": ["1"]})
    report = backfill.run(MAPPING, long, site_id="s", api_key="k", transport=api,
                          endpoint="https://track.example.test", checkpoint=tmp_path / "c.json",
                          rejects=tmp_path / "r.ndjson")
    assert api.operations == []
    assert report.operations_rejected + report.rows_rejected == 1 and report.exit_code == 1


def test_without_a_transport_the_run_would_have_used_a_socket(tmp_path, no_sockets):
    """The guard of the tests above can fail: the default transport connects."""
    with pytest.raises(AssertionError, match="a socket was connected"):
        backfill.run(MAPPING, ROWS, site_id="s", api_key="k", endpoint="http://127.0.0.1:9",
                     checkpoint=tmp_path / "c.json", rejects=tmp_path / "r.ndjson")


def test_validate_streams_its_rejects_too(tmp_path):
    seen: list = []
    report = backfill.validate(MAPPING, ROWS, rejects=tmp_path / "v.ndjson",
                               on_reject=seen.append)
    assert [(r.row, r.stage, r.record["seats"]) for r in seen] == [(1, "mapping", "two")]
    assert report.rows_rejected == 1
