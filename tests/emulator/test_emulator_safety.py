"""The emulator is safe to leave running: beyond loopback it refuses the default credentials,
its stats need the same auth as the API, a body over --max-body is refused as it arrives, and
JSON nested to any depth gets a 400 or a 207, never a 500."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from click.testing import CliRunner
from helpers import ROOT, free_port, listens
from helpers.emulated import KEY, SITE, start

from backfill.cli import cli
from backfill.emulator import loopback


def post(url: str, body: bytes, key: str = KEY, path: str = "/api/v2/batch") -> tuple[int, bytes]:
    auth = base64.b64encode(f"{SITE}:{key}".encode()).decode()
    request = urllib.request.Request(url + path, data=body, headers={
        "Authorization": f"Basic {auth}", "content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def get(url: str, key: str | None) -> int:
    headers = {} if key is None else {
        "Authorization": "Basic " + base64.b64encode(f"{SITE}:{key}".encode()).decode()}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.parametrize(("host", "want"), [("127.0.0.1", True), ("127.8.0.1", True),
                                            ("::1", True), ("localhost", True),
                                            ("0.0.0.0", False), ("10.1.2.3", False),
                                            ("::", False)])
def test_loopback(host, want):
    assert loopback(host) is want


def test_beyond_loopback_the_default_credentials_are_refused():
    result = CliRunner().invoke(cli, ["emulator", "--host", "0.0.0.0", "--port",
                                      str(free_port())], env={"CUSTOMERIO_SITE_ID": "",
                                                              "CUSTOMERIO_API_KEY": ""})
    assert result.exit_code == 2, result.output
    assert "serves beyond this machine" in result.output and "--api-key" in result.output


def test_beyond_loopback_with_own_credentials_it_serves_and_warns(tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "backfill", "emulator", "--host", "0.0.0.0",
                             "--port", str(port), "--db", str(tmp_path / "e.sqlite"),
                             "--site-id", SITE, "--api-key", KEY], cwd=ROOT,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert listens(port, 20)
        url = f"http://127.0.0.1:{port}"
        assert get(url + "/_emulator/stats", None) == 401
        assert get(url + "/_emulator/stats", KEY) == 200
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "is reachable from other machines" in err
    assert stat.S_IMODE(os.stat(tmp_path / "e.sqlite").st_mode) == 0o600


def test_stats_need_the_credentials(tmp_path, emulator):
    emu = emulator
    assert get(emu.url + "/_emulator/stats", None) == 401
    assert get(emu.url + "/_emulator/stats", "wrong") == 401
    assert get(emu.url + "/_emulator/stats", KEY) == 200


def test_a_body_over_max_body_is_refused_as_it_arrives(tmp_path):
    emu, store = start(tmp_path, max_body=10_000)
    try:
        status, _ = post(emu.url, b'{"batch": [' + b'"' + b"x" * 100_000 + b'"]}')
    finally:
        emu.stop()
    assert status == 413 and store.operations == 0


@pytest.mark.parametrize("depth", [600, 2000, 100_000])
def test_json_nested_to_any_depth_is_a_client_error(tmp_path, emulator, depth):
    item = b'{"type": "person", "identifiers": {"id": "1"}, "action": "identify", ' \
           b'"attributes": {"a": ' + b"[" * depth + b"]" * depth + b"}}"
    emu = emulator
    batch = post(emu.url, b'{"batch": [' + item + b"]}")
    entity = post(emu.url, item, path="/api/v2/entity")
    v1 = post(emu.url, b"[" * depth + b"]" * depth, path="/api/v1/events")
    for status, body in (batch, entity, v1):
        assert status in (200, 207, 400, 413), (status, body[:200])
        assert b"Traceback" not in body and b"Internal Server Error" not in body
