"""Delivery says the truth against a hostile endpoint, each case a real server on loopback: a
redirect is never followed (nothing reaches the other host) and stops the run (exit 4); an answer
that is not the Track API's JSON counts nothing delivered; a 207 error naming no operation
refuses the body's operations; 400 to every request trips the breaker; a long Retry-After stops
the run (exit 3) instead of waiting, and a shorter one is said."""

from __future__ import annotations

import re

import orjson
import pytest
from click.testing import CliRunner
from helpers import write
from helpers.hostile import Hostile, api_like

from backfill.cli import cli
from backfill.delivery.retry import BREAKER_400
from backfill.runfiles.checkpoint import read_checkpoint

MAPPING = ("version: 1\noperations:\n  - type: person\n    action: identify\n"
           "    identifiers: {id: user_id}\n")
ENV = {"CUSTOMERIO_SITE_ID": "site", "CUSTOMERIO_API_KEY": "key"}
JSON = {"content-type": "application/json"}


def invoke(tmp_path, endpoint: str, *extra: str, rows: int = 50):
    write(tmp_path / "m.yaml", MAPPING)
    write(tmp_path / "p.csv", "user_id\n" + "".join(f"u{i}\n" for i in range(rows)))
    return CliRunner().invoke(cli, ["run", str(tmp_path / "m.yaml"), str(tmp_path / "p.csv"),
                                    "--endpoint", endpoint, "--quiet", *extra], env=ENV)


def rows_done(tmp_path) -> int:
    checkpoint = read_checkpoint(tmp_path / "p.csv.checkpoint.json")
    return 0 if checkpoint is None else checkpoint.done[0].count()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirected_batch_stops_the_run_and_nothing_reaches_the_other_host(tmp_path, status):
    with Hostile(lambda *_: (200, JSON, b"{}")) as elsewhere, \
            Hostile(api_like(lambda _: (status, {"Location": elsewhere.url + "/api/v2/batch"},
                                        b""))) as api:
        result = invoke(tmp_path, api.url)
    assert result.exit_code == 4, result.output
    assert f"answered HTTP {status} to {elsewhere.url}/api/v2/batch" in result.output
    assert "redirects are never followed" in result.output and "--region" in result.output
    assert sum(elsewhere.requests.values()) == 0  # no body, no GET, nothing
    assert api.posts == 1 and rows_done(tmp_path) == 0
    assert "delivered" not in result.output.split("stopped:")[0]


def test_a_redirected_region_check_stops_before_anything_is_read(tmp_path):
    with Hostile(lambda *_: (301, {"Location": "https://track-eu.customer.io/"}, b"")) as api:
        result = invoke(tmp_path, api.url)
    assert result.exit_code == 4, result.output
    assert "HTTP 301 to https://track-eu.customer.io/" in result.output
    assert "nothing was sent" in result.output and api.posts == 0


@pytest.mark.parametrize(("body", "said"), [
    (b"<html><body>Welcome to the hotel wifi</body></html>", "'<html><body>Welcome"),
    (b"", "an empty body"),
    (b"[]", "'[]'"),
])
def test_a_200_that_is_not_the_apis_json_is_not_delivered(tmp_path, body, said):
    with Hostile(api_like(lambda _: (200, {"content-type": "text/html"}, body))) as api:
        result = invoke(tmp_path, api.url)
    assert result.exit_code == 4, result.output
    assert "is not the Track API" in result.output and said in result.output
    assert "Traceback" not in result.output
    assert rows_done(tmp_path) == 0 and api.posts == 1


def test_a_portal_answering_the_region_check_stops_before_sending(tmp_path):
    with Hostile(lambda *_: (200, {"content-type": "text/html"}, b"<html>login</html>")) as api:
        result = invoke(tmp_path, api.url)
    assert result.exit_code == 4, result.output
    assert "not the Track API" in result.output and "nothing was sent" in result.output
    assert api.posts == 0


@pytest.mark.parametrize("index", [50, -1, "0", 1.5, None])
def test_a_207_error_that_names_no_operation_refuses_the_body(tmp_path, index):
    error = {"reason": "invalid", "message": "odd"} | ({} if index is None else
                                                       {"batch_index": index})
    answer = api_like(lambda _: (207, JSON, orjson.dumps({"errors": [error]})))
    with Hostile(answer) as api:
        result = invoke(tmp_path, api.url, "--report", str(tmp_path / "r.json"))
    assert result.exit_code == 1, result.output
    report = orjson.loads((tmp_path / "r.json").read_bytes())
    assert report["operations_rejected"] == 50 and report["operations_delivered"] == 0
    lines = (tmp_path / "p.csv.rejects.ndjson").read_bytes().splitlines()
    assert len(lines) == 50
    assert all(b"naming no operation of this body" in line for line in lines)
    assert api.posts == 1


def test_a_207_with_one_placed_and_one_unplaced_error_refuses_all_once(tmp_path):
    errors = [{"batch_index": 3, "reason": "bad"}, {"batch_index": 99, "reason": "odd"}]
    with Hostile(api_like(lambda _: (207, JSON, orjson.dumps({"errors": errors})))) as api:
        result = invoke(tmp_path, api.url)
    assert result.exit_code == 1, result.output
    rejects = [orjson.loads(line) for line in
               (tmp_path / "p.csv.rejects.ndjson").read_bytes().splitlines()]
    assert sorted(r["row"] for r in rejects) == list(range(50))
    assert next(r for r in rejects if r["row"] == 3)["reason"] == "bad"
    assert api.posts == 1


def test_400_to_every_request_trips_the_breaker(tmp_path):
    refusal = orjson.dumps({"errors": [{"reason": "invalid", "message": "blocked"}]})
    with Hostile(api_like(lambda _: (400, JSON, refusal))) as api:
        result = invoke(tmp_path, api.url, rows=20_000)
    assert result.exit_code == 4, result.output
    assert re.search(r"answered HTTP 400 to (\d+) requests in a row", result.output)
    assert int(re.search(r"to (\d+) requests", result.output)[1]) >= BREAKER_400
    assert api.posts < BREAKER_400 + 20  # not 39,994 requests for 20,000 rows
    assert rows_done(tmp_path) < 20_000


def test_a_firewalls_html_400_is_not_the_api(tmp_path):
    with Hostile(api_like(lambda _: (400, {"content-type": "text/html"},
                                     b"<html>Request blocked</html>"))) as api:
        result = invoke(tmp_path, api.url, rows=20_000)
    assert result.exit_code == 4, result.output
    assert "not the Track API" in result.output
    assert api.posts <= 3  # the bodies already in flight, none split
    assert not (tmp_path / "p.csv.rejects.ndjson").exists() and rows_done(tmp_path) == 0


@pytest.mark.parametrize("retry_after", ["3600", "Fri, 01 Jan 2099 00:00:00 GMT", "inf"])
def test_a_retry_after_over_max_wait_stops_the_run_resumably(tmp_path, retry_after):
    with Hostile(api_like(lambda _: (429, {"Retry-After": retry_after}, b""))) as api:
        result = invoke(tmp_path, api.url)
    assert result.exit_code == 3, result.output
    assert "asked to wait" in result.output and "longer than --max-wait 120 s" in result.output
    assert "run the same command again after" in result.output
    assert api.posts == 1 and rows_done(tmp_path) == 0


def test_a_long_wait_is_said_even_under_quiet(tmp_path):
    answers = iter([(429, {"Retry-After": "3"}, b"")])
    with Hostile(api_like(lambda _: next(answers, (200, JSON, b"{}")))) as api:
        result = invoke(tmp_path, api.url, "--max-wait", "10")
    assert result.exit_code == 0, result.output
    assert "note: waiting 3.0 s: the API answered HTTP 429 with Retry-After" in result.output
    assert api.posts == 2 and rows_done(tmp_path) == 50


def test_an_empty_200_from_a_v1_endpoint_is_the_apis_and_from_v2_is_not(tmp_path):
    """The published document gives the v1 endpoints' 200 no body: a segment import answered
    so is delivered. For /api/v2 an empty 200 is still not the API's (a portal or proxy)."""
    write(tmp_path / "s.yaml", "version: 1\noperations:\n  - type: segment\n"
          "    action: add_customers\n    segment_id: {value: 12}\n    identifiers: {id: user_id}\n")
    write(tmp_path / "s.csv", "user_id\n" + "".join(f"u{i}\n" for i in range(30)))
    with Hostile(api_like(lambda _: (200, {}, b""))) as api:
        result = CliRunner().invoke(cli, ["run", str(tmp_path / "s.yaml"),
                                          str(tmp_path / "s.csv"), "--endpoint", api.url,
                                          "--quiet"], env=ENV)
        html = Hostile(api_like(lambda _: (200, {"content-type": "text/html"}, b"<html>")))
        with html:
            portal = CliRunner().invoke(cli, ["run", str(tmp_path / "s.yaml"),
                                              str(tmp_path / "s.csv"), "--endpoint", html.url,
                                              "--quiet", "--restart"], env=ENV)
    assert result.exit_code == 0, result.output
    assert api.requests[("POST", "/api/v1/segments/12/add_customers")] == 1
    assert "30 operations" in result.output
    assert portal.exit_code == 4 and "not the Track API" in portal.output
