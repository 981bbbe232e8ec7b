"""Inputs in object storage, against a real S3-compatible server on loopback (moto in server
mode, started here): the same bytes as from local disk, globs over prefixes, resume refused on
a replaced object, and clear errors."""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import orjson
import polars as pl
import pytest
from click.testing import CliRunner
from helpers import ROOT, free_port, started, write
from helpers.emulated import KEY, SITE, start, stored

import backfill
from backfill.cli import cli
from backfill.emulator import Faults
from backfill.errors import InputError, RetriesExhausted, UsageError
from backfill.sources import remote

BUCKET = "exports-bucket"
pytestmark = pytest.mark.skipif(shutil.which("moto_server") is None,
                                reason="moto[server] is not installed")


@pytest.fixture(scope="module")
def s3_server():
    port = free_port()
    proc = started(["moto_server", "-p", str(port)], port)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def s3(s3_server, monkeypatch):
    """A client of the server, with the standard AWS environment pointing at it."""
    for name, value in (("AWS_ENDPOINT_URL", s3_server), ("AWS_ACCESS_KEY_ID", "test"),
                        ("AWS_SECRET_ACCESS_KEY", "test"), ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    import boto3

    client = boto3.client("s3")
    if BUCKET not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=BUCKET)
    return client


def dump(tmp_path, mapping, source, name):
    bodies, rejects = tmp_path / f"{name}.bodies", tmp_path / f"{name}.rejects"
    report = backfill.validate(mapping, source, rejects, bodies)
    return report, bodies.read_bytes(), rejects.read_text() if rejects.exists() else ""


def test_an_object_gives_the_bytes_and_rejects_of_the_same_file_on_disk(s3, tmp_path):
    local = ROOT / "sample_data" / "people.csv"
    s3.upload_file(str(local), BUCKET, "exports/people.csv")
    url = f"s3://{BUCKET}/exports/people.csv"
    mapping = ROOT / "configs" / "people.yaml"
    here = dump(tmp_path, mapping, str(local), "local")
    there = dump(tmp_path, mapping, url, "s3")
    assert there[1] == here[1] and len(here[1]) > 100_000
    assert there[2] == here[2].replace(str(local), url) and '"line":' in there[2]
    assert there[0].rows_read == here[0].rows_read


def test_a_glob_over_a_prefix_reads_compressed_objects_in_order(s3, tmp_path):
    data = (ROOT / "sample_data" / "events.ndjson").read_bytes()
    lines = data.splitlines(keepends=True)
    half = len(lines) // 2
    for i, part in enumerate((lines[:half], lines[half:])):
        s3.put_object(Bucket=BUCKET, Key=f"daily/part-{i}.ndjson.gz",
                      Body=gzip.compress(b"".join(part)))
    s3.put_object(Bucket=BUCKET, Key="daily/readme.txt", Body=b"not an export")
    mapping = ROOT / "configs" / "events.yaml"
    whole = dump(tmp_path, mapping, str(ROOT / "sample_data" / "events.ndjson"), "local")
    parts = dump(tmp_path, mapping, f"s3://{BUCKET}/daily/*.ndjson.gz", "s3")
    assert parts[0].rows_read == whole[0].rows_read == len(lines)
    assert parts[0].operations_packed == whole[0].operations_packed


def test_parquet_is_read_from_the_bucket(s3, tmp_path):
    frame = pl.DataFrame({"user_id": [f"u{i}" for i in range(1000)],
                          "email": [f"u{i}@example.com" for i in range(1000)]})
    local = tmp_path / "people.parquet"
    frame.write_parquet(local)
    s3.upload_file(str(local), BUCKET, "pq/people.parquet")
    mapping = {"version": 1, "operations": [{"type": "person", "action": "identify",
                                             "identifiers": {"id": "user_id"},
                                             "attributes": {"email": "email"}}]}
    here = dump(tmp_path, mapping, str(local), "local")
    there = dump(tmp_path, mapping, f"s3://{BUCKET}/pq/people.parquet", "s3")
    assert there[1] == here[1] and there[0].rows_read == 1000


def test_a_resume_against_a_replaced_object_is_refused(s3, tmp_path):
    s3.put_object(Bucket=BUCKET, Key="resume/people.csv",
                  Body=b"user_id,email\n" + b"".join(b"u%d,u%d@example.com\n" % (i, i)
                                                   for i in range(50)))
    url = f"s3://{BUCKET}/resume/people.csv"
    mapping = {"version": 1, "operations": [{"type": "person", "action": "identify",
                                             "identifiers": {"id": "user_id"}}]}
    emu, _ = start(tmp_path, faults=Faults(fail_rate=1.0, seed=1))
    checkpoint = tmp_path / "people.checkpoint.json"
    try:
        with pytest.raises(RetriesExhausted):
            backfill.run(mapping, url, site_id=SITE, api_key=KEY, endpoint=emu.url,
                         checkpoint=checkpoint, retries=1)
        before = remote.fingerprint(url)
        s3.put_object(Bucket=BUCKET, Key="resume/people.csv", Body=b"user_id,email\nu1,x\n")
        assert remote.fingerprint(url)["sample"] != before["sample"]
        with pytest.raises(UsageError, match="changed"):
            backfill.run(mapping, url, site_id=SITE, api_key=KEY, endpoint=emu.url,
                         checkpoint=checkpoint, retries=1)
    finally:
        emu.stop()


def test_missing_objects_and_filesystems_are_said_in_one_line(s3):
    with pytest.raises(InputError, match="no such object"):
        backfill.validate(ROOT / "configs" / "people.yaml", f"s3://{BUCKET}/nope.csv")
    with pytest.raises(InputError, match="no object matches"):
        backfill.validate(ROOT / "configs" / "people.yaml", f"s3://{BUCKET}/none/*.csv")
    with pytest.raises(InputError, match="no such object"):
        backfill.validate(ROOT / "configs" / "people.yaml", f"s3://{BUCKET}/none/x.csv")


def test_the_default_checkpoint_of_an_object_is_local():
    from backfill.api import beside_input
    from backfill.sources.files import Input

    assert beside_input([Input(f"s3://{BUCKET}/a/people.csv", "csv")], "checkpoint.json") == \
        "people.csv.checkpoint.json"


class DroppingProxy:
    """A TCP proxy to the S3 server that cuts the first answer longer than `after` bytes in
    the middle, as a dropped connection would."""

    def __init__(self, upstream: str, after: int):
        host, port = upstream.rsplit("//", 1)[1].split(":")
        self.upstream = (host, int(port))
        self.after, self.dropped = after, 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            threading.Thread(target=self._pipe, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, True), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, answers: bool) -> None:
        sent = 0
        try:
            while data := src.recv(65536):
                if answers and not self.dropped and sent + len(data) > self.after:
                    dst.sendall(data[: self.after - sent])
                    self.dropped += 1
                    break
                dst.sendall(data)
                sent += len(data)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def close(self) -> None:
        self.server.close()


def test_a_connection_dropped_mid_object_is_retried_with_nothing_lost_or_repeated(
        s3, s3_server, tmp_path, monkeypatch):
    local = ROOT / "sample_data" / "people.csv"
    s3.upload_file(str(local), BUCKET, "flaky/people.csv")
    proxy = DroppingProxy(s3_server, after=150_000)
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    try:
        mapping = ROOT / "configs" / "people.yaml"
        there = dump(tmp_path, mapping, f"s3://{BUCKET}/flaky/people.csv", "s3")
    finally:
        proxy.close()
    here = dump(tmp_path, mapping, str(local), "local")
    assert proxy.dropped == 1
    assert there[1] == here[1] and there[0].rows_read == here[0].rows_read


def test_checkpoint_rejects_and_report_in_the_bucket_resume_like_files(s3, tmp_path):
    from helpers.emulated import run as cli_run

    data = tmp_path / "people.csv"
    data.write_text("user_id,email\n" + "".join(f"u{i},u{i}@example.com\n" for i in range(40))
                    + ",nobody@example.com\n")
    mapping = tmp_path / "people.yaml"
    mapping.write_text("version: 1\noperations:\n  - type: person\n    action: identify\n"
                       "    identifiers: {id: user_id}\n    attributes: {email: email}\n")
    where = f"s3://{BUCKET}/runs/night-1"
    args = ["--checkpoint", f"{where}/people.checkpoint.json", "--rejects",
            f"{where}/people.rejects.ndjson", "--report", f"{where}/report.json"]
    failing, _ = start(tmp_path / "a", faults=Faults(fail_rate=1.0, seed=1))
    try:
        stopped = cli_run(failing, mapping, [data], *args, "--retries", "1")
    finally:
        failing.stop()
    assert stopped.exit_code == 3, stopped.output
    kept = s3.get_object(Bucket=BUCKET, Key="runs/night-1/people.checkpoint.json")["Body"].read()
    assert b'"finished": false' in kept and b"s3cret" not in kept
    emu, store = start(tmp_path / "b")
    try:
        resumed = cli_run(emu, mapping, [data], *args)
    finally:
        emu.stop()
    assert resumed.exit_code == 1, resumed.output  # one row rejected
    assert store.operations == 40
    body = lambda key: s3.get_object(Bucket=BUCKET, Key=f"runs/night-1/{key}")["Body"].read()  # noqa: E731
    assert b'"finished": true' in body("people.checkpoint.json")
    assert body("people.rejects.ndjson").count(b"\n") == 1  # the stopped run's line, not twice
    assert b'"operations_delivered": 40' in body("report.json")


@pytest.mark.slow
def test_a_state_in_the_bucket_outlives_the_runner_and_a_kill_9(s3, tmp_path):
    """Each run on a new runner (its own folder); night 2 killed mid-way: the journal in the
    bucket keeps what was acknowledged, and the resume and night 3 lose and repeat nothing."""
    from helpers.nightly import MAPPING, deleted, identify, people

    where = f"s3://{BUCKET}/nightly"
    emu, store = start(tmp_path, faults=Faults(latency_ms=(20, 60), seed=3))
    env = {**os.environ, "CUSTOMERIO_SITE_ID": SITE, "CUSTOMERIO_API_KEY": KEY}

    def runner(name, text, *extra):
        folder = tmp_path / name  # a fresh disk each time; the export is in the bucket
        write(folder / "people.yaml", MAPPING)
        if text is not None:  # a new export (the same object when resuming)
            s3.put_object(Bucket=BUCKET, Key="exports/people.csv", Body=text.encode())
        return [sys.executable, "-m", "backfill", "run", str(folder / "people.yaml"),
                f"s3://{BUCKET}/exports/people.csv", "--endpoint", emu.url, "--quiet", "--rate", "1",
                "--concurrency", "2", "--state", f"{where}/people.state", "--checkpoint",
                f"{where}/people.checkpoint.json", "--missing", "delete", *extra]

    def objects(part):
        found = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"nightly/people.state{part}")
        return [o["Key"] for o in found.get("Contents", [])]

    ids = range(100, 30_000)  # night 2: u0-u99 gone, 10,000 new, every fifth row changed
    night2 = people(ids, lambda i: "pro" if i % 5 == 0 else "free")
    try:
        first = subprocess.run(runner("one", people(range(20_000))), env=env,
                               capture_output=True, text=True)
        assert first.returncode == 0, first.stderr
        assert objects("") == ["nightly/people.state", "nightly/people.state.keys/00000001.parquet"]
        proc = subprocess.Popen(runner("two", night2), env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        time.sleep(3.5)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        assert store.operations > 20_000 and objects(".journal/")  # acknowledged, journaled
        resumed = subprocess.run(runner("three", None), env=env, capture_output=True,
                                 text=True)
        assert resumed.returncode == 0, resumed.stderr
        third = subprocess.run(runner("four", None, "--report", str(tmp_path / "r.json")),
                               env=env, capture_output=True, text=True)
        assert third.returncode == 0, third.stderr
    finally:
        emu.stop()
    assert not objects(".journal/")
    said = CliRunner().invoke(cli, ["status", f"{where}/people.state"])
    assert said.exit_code == 0 and "nightly state of 29,900 keys" in said.output, said.output
    said = CliRunner().invoke(cli, ["status", f"{where}/people.checkpoint.json"])
    assert said.exit_code == 0 and "mapping fingerprint" in said.output, said.output
    said = CliRunner().invoke(cli, ["status", f"{where}/nothing.json"])
    assert said.exit_code == 2 and "no such checkpoint or state" in said.output, said.output
    report = orjson.loads((tmp_path / "r.json").read_bytes())
    assert report["requests"] == 0 and report["rows_unchanged"] == len(ids)
    got = stored(store)
    want = {identify(i, "pro" if i % 5 == 0 else "free") for i in ids}
    assert want <= set(got)
    deletes = {op for op in got if b'"delete"' in op}
    assert deletes == {deleted(i) for i in range(100)}
    assert set(got) - want - deletes == {identify(i) for i in range(0, 20_000, 5)} | {
        identify(i) for i in range(100)}


def test_a_file_on_a_web_server_reads_like_the_file(tmp_path):
    import functools
    import http.server

    handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                directory=str(ROOT / "sample_data"))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/events.ndjson"
        mapping = ROOT / "configs" / "events.yaml"
        there = dump(tmp_path, mapping, url, "web")
        assert remote.fingerprint(url)["size"] == (ROOT / "sample_data" / "events.ndjson").stat().st_size
    finally:
        httpd.shutdown()
    here = dump(tmp_path, mapping, str(ROOT / "sample_data" / "events.ndjson"), "local")
    assert there[1] == here[1] and there[0].rows_read == here[0].rows_read
