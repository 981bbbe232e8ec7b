"""`backfill emulator` as a user starts it: a port in use or out of range is a one-line usage
error that leaves no store behind; a stopped emulator's store is one SQLite file."""

from __future__ import annotations

import base64
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from helpers import ROOT, free_port
from helpers.emulated import KEY, SITE, run, start

from backfill.cli import cli
from backfill.emulator import Store


def leftovers() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("backfill-emulator-*.sqlite")}


def test_a_port_in_use_is_said_in_one_line_and_leaves_no_store():
    before = leftovers()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["emulator", "--port", str(port)])
    assert result.exit_code == 2, result.output
    assert f"port {port} on 127.0.0.1 is in use by another program" in result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    assert leftovers() == before


@pytest.mark.parametrize("port", ["-1", "70000"])
def test_a_port_out_of_range_is_refused_by_the_option(port):
    before = leftovers()
    result = CliRunner().invoke(cli, ["emulator", "--port", port])
    assert result.exit_code == 2 and "1<=x<=65535" in result.output, result.output
    assert leftovers() == before


def test_the_help_says_the_port_and_the_credentials_variables():
    text = CliRunner().invoke(cli, ["emulator", "--help"]).output
    assert "Port to listen on" in text and "CUSTOMERIO_SITE_ID" in text
    assert "CUSTOMERIO_API_KEY" in text


def test_a_stopped_emulator_leaves_one_sqlite_file(tmp_path):
    mapping = tmp_path / "m.yaml"
    mapping.write_text("version: 1\noperations:\n  - type: person\n    action: identify\n"
                       "    identifiers: {id: user_id}\n")
    data = tmp_path / "p.csv"
    data.write_text("user_id\n" + "".join(f"u{i}\n" for i in range(2000)))
    emu, store = start(tmp_path)
    try:
        assert run(emu, mapping, [data]).exit_code == 0
        assert Path(f"{store.path}-wal").exists()  # while it serves
    finally:
        emu.stop()
    assert not Path(f"{store.path}-wal").exists()
    with sqlite3.connect(store.path) as con:
        assert con.execute("SELECT count(*) FROM operations").fetchone()[0] == 2000


def test_the_command_closes_its_store_on_ctrl_c(tmp_path):
    db, port = tmp_path / "e.sqlite", free_port()
    proc = subprocess.Popen([sys.executable, "-m", "backfill", "emulator", "--port", str(port),
                             "--db", str(db), "--site-id", SITE, "--api-key", KEY], cwd=ROOT,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert "Track API emulator on http://127.0.0.1:" in proc.stderr.readline()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(b"GET /api/v1/accounts/region HTTP/1.0\r\n\r\n")
            conn.recv(100)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(20)
    assert db.exists() and not Path(f"{db}-wal").exists()


def test_the_command_serves_the_pages_of_an_existing_store(tmp_path):
    """`backfill emulator --db STORE` on a store kept without its workspace (--no-workspace):
    it makes the workspace from the stored operations and serves its pages."""
    db, port = tmp_path / "e.sqlite", free_port()
    store = Store(str(db), keep_workspace=False)
    op = {"type": "person", "action": "identify", "identifiers": {"id": "ann"},
          "attributes": {"plan": "pro"}}
    store.record("/api/v2/batch", 200, [(0, op, orjson.dumps(op))])
    store.close()
    proc = subprocess.Popen([sys.executable, "-m", "backfill", "emulator", "--port", str(port),
                             "--db", str(db), "--site-id", SITE, "--api-key", KEY], cwd=ROOT,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        said = [proc.stderr.readline() for _ in range(3)]
        assert "its workspace has not applied" in said[1] and "applying them now" in said[1]
        assert f"http://127.0.0.1:{port}/" in said[2]
        auth = base64.b64encode(f"{SITE}:{KEY}".encode()).decode()
        page = urllib.request.urlopen(urllib.request.Request(
            f"http://127.0.0.1:{port}/people/ann", headers={"Authorization": f"Basic {auth}"}),
            timeout=10).read().decode()
        assert "<code>plan</code></td><td>pro</td><td>string</td>" in page
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(20)
