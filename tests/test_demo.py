"""`backfill demo` (what `make demo` runs): both sample imports, rejects shown with their real
values, and the emulator's store left as a SQLite file and its workspace another."""

from __future__ import annotations

import base64
import contextlib
import signal
import subprocess
import sys
import urllib.request

import pytest
from helpers import ROOT

from backfill.demo import run_demo
from backfill.emulator.applier import reader


def test_the_demo_imports_the_samples_and_leaves_the_store_and_its_workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the inputs come from the configs' own folder
    said: list[str] = []
    assert run_demo(tmp_path / "out", said.append, ROOT) == 0
    text = "\n".join(said)
    assert "3,002 rows read, sent in" in text and "5,000 rows read, sent in" in text
    assert "imported" not in text and " is N bytes" not in text
    assert "attribute 'notes' value is 1500 bytes; the limit is 1000" in text
    files = sorted(p.name for p in (tmp_path / "out").iterdir() if "sqlite" in p.name)
    assert files == ["emulator.sqlite", "emulator.workspace.sqlite"]  # no -wal: closed
    with contextlib.closing(reader(str(tmp_path / "out" / "emulator.sqlite"))) as con:
        assert con.execute("SELECT count(*) FROM operations").fetchone()[0] == 13_981
        held = {k: con.execute(f"SELECT count(*) FROM ws_{k}").fetchone()[0]  # noqa: S608
                for k in ("people", "objects", "relationships", "events")}
    # every identified person, and the few the events name only; the sample's 15 companies
    assert held == {"people": 2_999, "objects": 15, "relationships": 2_995, "events": 4_996}
    assert "The workspace they leave" in text and "2,999 people, 15 objects" in text


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_keep_open_serves_the_pages_until_ctrl_c(tmp_path, stop):
    """`backfill demo --keep-open`, a real process: it says where its pages are, serves them
    with the demo's credentials, and a SIGINT (Ctrl-C) or a SIGTERM (docker stop) stops it
    cleanly."""
    proc = subprocess.Popen([sys.executable, "-m", "backfill", "demo", "--keep-open", "--keep",
                             str(tmp_path / "out")], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("The workspace's pages: "):
                url = line.split()[3]
                break
        else:
            raise AssertionError("the demo never said where its pages are")
        auth = base64.b64encode(b"demo-site:demo-key").decode()
        page = urllib.request.urlopen(urllib.request.Request(
            url + "people/u100001", headers={"Authorization": f"Basic {auth}"}), timeout=10)
        assert page.status == 200 and "bruno.dubois1@example.com" in page.read().decode()
        proc.send_signal(stop)
        assert proc.wait(20) == 0
        assert "stopped" in proc.stdout.read()
    finally:
        proc.kill()
        proc.wait()
    left = sorted(p.name for p in (tmp_path / "out").iterdir() if "sqlite" in p.name)
    assert left == ["emulator.sqlite", "emulator.workspace.sqlite"]  # closed: no -wal
