"""Secrets stay secret: the query string of an input URL (a presigned URL's signature) is
redacted in every name, report, rejects line, message and checkpoint; a user:key in --endpoint
is refused; a key given as --api-key is warned about."""

from __future__ import annotations

import functools
import http.server
import threading

import pytest
from click.testing import CliRunner
from helpers import write
from helpers.emulated import KEY, SITE, start, stored

from backfill.cli import cli
from backfill.storage import shown

SIGNATURE = "X-Amz-Signature=deadbeefcafe0123456789"
MAPPING = ("version: 1\noperations:\n  - type: person\n    action: identify\n"
           "    identifiers: {id: user_id}\n    attributes: {seats: {column: seats, as: int}}\n")


@pytest.mark.parametrize(("text", "want"), [
    ("https://b.s3.amazonaws.com/p.csv?X-Amz-Signature=abc&X-Amz-Credential=AK",
     "https://b.s3.amazonaws.com/p.csv?<redacted>"),
    ("https://acct.blob.core.windows.net/c/p.csv?sv=2024&sig=xyz", "https://acct.blob.core."
     "windows.net/c/p.csv?<redacted>"),
    ("cannot read 'https://h/p.csv?sig=1': 403", "cannot read 'https://h/p.csv?<redacted>': 403"),
    ("https://user:pass@h/p.csv", "https://<redacted>@h/p.csv"),
    ("s3://bucket/p.csv", "s3://bucket/p.csv"),
    ("people.csv", "people.csv"),
])
def test_shown_redacts_queries_and_userinfo(text, want):
    assert shown(text) == want


@pytest.fixture
def served(tmp_path):
    folder = tmp_path / "web"
    rows = "".join(f"u{i},{'x' if i % 7 == 0 else i}\n" for i in range(50))
    write(folder / "people.csv", "user_id,seats\n" + rows)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/people.csv?{SIGNATURE}"
    httpd.shutdown()


def test_a_presigned_inputs_signature_is_written_nowhere(tmp_path, served, monkeypatch):
    monkeypatch.chdir(tmp_path)
    mapping = write(tmp_path / "m.yaml", MAPPING)
    emu, store = start(tmp_path / "emu")
    try:
        result = CliRunner().invoke(cli, [
            "run", str(mapping), served, "--endpoint", emu.url, "--quiet", "--report",
            str(tmp_path / "report.json")], env={"CUSTOMERIO_SITE_ID": SITE,
                                                 "CUSTOMERIO_API_KEY": KEY})
    finally:
        emu.stop()
    assert result.exit_code == 1, result.output  # the rows with 'x' are rejected
    assert len(stored(store)) == 42
    written = sorted(p for p in tmp_path.iterdir() if p.is_file())
    names = [p.name for p in written]
    assert "people.csv.checkpoint.json" in names and "people.csv.rejects.ndjson" in names
    for path in written:
        assert b"deadbeefcafe" not in path.read_bytes(), path
    assert "deadbeefcafe" not in result.output
    assert "people.csv?<redacted>" in (tmp_path / "people.csv.rejects.ndjson").read_text()


def test_credentials_in_the_endpoint_are_refused(tmp_path):
    mapping = write(tmp_path / "m.yaml", MAPPING)
    data = write(tmp_path / "p.csv", "user_id,seats\nu1,1\n")
    result = CliRunner().invoke(cli, ["run", str(mapping), str(data), "--endpoint",
                                      "http://site:s3cret@127.0.0.1:9/", "--quiet"],
                                env={"CUSTOMERIO_SITE_ID": SITE, "CUSTOMERIO_API_KEY": KEY})
    assert result.exit_code == 2, result.output
    assert "user name or password" in result.output and "http://127.0.0.1:9" in result.output
    assert "s3cret" not in result.output


def test_a_key_on_the_command_line_is_warned_about(tmp_path, emulator):
    mapping = write(tmp_path / "m.yaml", MAPPING)
    data = write(tmp_path / "p.csv", "user_id,seats\nu1,1\n")
    emu = emulator
    result = CliRunner().invoke(cli, ["run", str(mapping), str(data), "--endpoint", emu.url,
                                      "--quiet", "--site-id", SITE, "--api-key", KEY])
    quiet = CliRunner().invoke(cli, ["run", str(mapping), str(data), "--endpoint", emu.url,
                                     "--quiet", "--restart"],
                               env={"CUSTOMERIO_SITE_ID": SITE, "CUSTOMERIO_API_KEY": KEY})
    assert result.exit_code == 0 and quiet.exit_code == 0, result.output
    assert "--api-key on the command line is visible" in result.output
    assert "--api-key" not in quiet.output and KEY not in result.output
