"""A query's rows as a source, against a real PostgreSQL server started here (Debian's
postgresql package; `.ci/run` installs it): the same operations as the CSV export of the same
rows, typed columns, a stopped run resumed by key, and no password anywhere."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from helpers import free_port, write
from helpers.emulated import KEY, SITE, start, stored

import backfill
from backfill.emulator import Faults
from backfill.errors import InputError, RetriesExhausted, UsageError
from backfill.sources.database import DatabaseSource, redacted
from backfill.sources.frames import CHUNK_ROWS

BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
pytestmark = pytest.mark.skipif(not BIN or not os.path.exists(f"{BIN[-1]}/initdb"),
                                reason="Debian's postgresql package is not installed")
ROWS = 200_000
MAPPING = """\
version: 1
operations:
  - type: person
    action: identify
    identifiers: {id: user_id}
    timestamp: {column: updated_at, as: timestamp}
    attributes:
      email: email
      plan: plan
      seats: {column: seats, as: int}
      score: {column: score, as: float}
      vip: {column: vip, as: bool}
"""


@pytest.fixture(scope="module")
def server():
    """A PostgreSQL cluster in a temporary folder on a free port (as the postgres user when
    this runs as root: the server refuses to run as root; pytest's own folders are root's)."""
    folder = tempfile.mkdtemp(prefix="backfill-pg-")
    port = free_port()
    as_postgres = ["su", "postgres", "-s", "/bin/sh", "-c"] if os.geteuid() == 0 else None
    if as_postgres:
        shutil.chown(folder, "postgres")

    def run(*command: str) -> None:
        line = " ".join(command)
        subprocess.run([*as_postgres, line] if as_postgres else ["sh", "-c", line], check=True,
                       capture_output=True)

    run(f"{BIN[-1]}/initdb", "-D", f"{folder}/data", "-A", "trust", "-U", "postgres")
    run(f"{BIN[-1]}/pg_ctl", "-D", f"{folder}/data", "-l", f"{folder}/log", "-o",
        f"'-p {port} -k {folder} -c listen_addresses=127.0.0.1'", "-w", "start")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        run(f"{BIN[-1]}/pg_ctl", "-D", f"{folder}/data", "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def people(n: int) -> pl.DataFrame:
    i = pl.int_range(0, n, dtype=pl.Int64, eager=True)
    start_at = datetime(2021, 1, 1, tzinfo=UTC)
    return pl.DataFrame({
        "user_id": "u" + i.cast(pl.String),
        "email": "user" + i.cast(pl.String) + "@example.com",
        "plan": pl.Series(["free", "pro", None, "enterprise"]).gather(i % 4),
        "seats": (i % 500).cast(pl.Int32),
        "score": (i % 10_000).cast(pl.Float64) / 100,
        "vip": i % 3 == 0,
        "updated_at": [start_at + timedelta(seconds=int(s)) for s in (i * 37).to_list()],
    })


@pytest.fixture(scope="module")
def table(server, tmp_path_factory):
    """The same rows as a table and as a CSV export."""
    import adbc_driver_postgresql.dbapi as pg

    frame = people(ROWS)
    with pg.connect(server) as conn:
        frame.write_database("people", conn, if_table_exists="replace", engine="adbc")
        conn.commit()
    export = tmp_path_factory.mktemp("export") / "people.csv"
    frame.with_columns(pl.col("updated_at").dt.strftime("%Y-%m-%dT%H:%M:%SZ")).write_csv(export)
    return server, export


def bodies(tmp_path, source, name):
    dump = tmp_path / f"{name}.ndjson"
    report = backfill.validate(MAPPING, source, tmp_path / f"{name}.rejects", dump)
    return report, dump.read_bytes()


def test_a_table_gives_the_operations_of_its_csv_export(table, tmp_path):
    url, export = table
    from_db = bodies(tmp_path, {"database": url, "query": "SELECT * FROM people ORDER BY seats, "
                                "user_id", "resume_key": ["user_id"]}, "db")
    from_csv = bodies(tmp_path, str(export), "csv")
    assert from_db[0].rows_read == from_csv[0].rows_read == ROWS
    assert from_db[0].rows_rejected == from_csv[0].rows_rejected == 0
    # the same operations, byte for byte (in the resume key's order, not the file's)
    db_ops = sorted(op for body in from_db[1].splitlines() for op in _ops(body))
    csv_ops = sorted(op for body in from_csv[1].splitlines() for op in _ops(body))
    assert db_ops == csv_ops and len(db_ops) == ROWS


def _ops(body: bytes) -> list[bytes]:
    """A body's operations, each as its exact bytes."""
    import orjson

    return [orjson.dumps(op) for op in orjson.loads(body)["batch"]]


def test_typed_columns_need_no_conversion(table, tmp_path):
    url, _ = table
    plain = ("version: 1\noperations:\n  - type: person\n    action: identify\n"
             "    identifiers: {id: user_id}\n    timestamp: updated_at\n"
             "    attributes: {seats: seats, vip: vip}\n")
    dump = tmp_path / "plain.ndjson"
    backfill.validate(plain, {"database": url, "query": "SELECT * FROM people WHERE "
                              "user_id = 'u3'"}, None, dump)
    import orjson

    [op] = orjson.loads(dump.read_bytes())["batch"]
    assert op["attributes"] == {"seats": 3, "vip": True}
    assert op["timestamp"] == int(datetime(2021, 1, 1, tzinfo=UTC).timestamp()) + 3 * 37


def test_a_stopped_run_resumes_by_key_with_nothing_lost(table, tmp_path):
    url, _ = table
    source = {"database": url, "query": "SELECT * FROM people WHERE seats < 50",
              "resume_key": "user_id"}
    write(tmp_path / "m.yaml", MAPPING)
    checkpoint = tmp_path / "cp.json"
    failing, _ = start(tmp_path / "a", faults=Faults(fail_rate=1.0, seed=1))
    try:
        with pytest.raises(RetriesExhausted):
            backfill.run(tmp_path / "m.yaml", source, site_id=SITE, api_key=KEY,
                         endpoint=failing.url, checkpoint=checkpoint, retries=1)
    finally:
        failing.stop()
    emu, store = start(tmp_path / "b", faults=Faults(latency_ms=(1, 5), seed=2))
    try:
        report = backfill.run(tmp_path / "m.yaml", source, site_id=SITE, api_key=KEY,
                              endpoint=emu.url, checkpoint=checkpoint)
    finally:
        emu.stop()
    assert report.resumed and report.exit_code == 0
    got = stored(store)
    assert len(got) == ROWS // 10 and max(got.values()) == 1


def test_the_password_is_never_shown(server):
    url = server.replace("postgres@", "postgres:s3cret-pw@")
    source = DatabaseSource(url, "SELECT 1 AS x", ("x",))
    assert "s3cret" not in source.name and "s3cret" not in str(source.fingerprint())
    assert redacted(url) == server
    bad = DatabaseSource(url.replace("/postgres", "/nope"), "SELECT 1 AS x")
    with pytest.raises(InputError) as refused:
        bad.columns(None)  # type: ignore[arg-type]
    assert "s3cret" not in str(refused.value) and "nope" in str(refused.value)


def test_without_a_resume_key_a_run_says_it_would_start_over(table, tmp_path, emulator):
    url, _ = table
    source = {"database": url, "query": "SELECT * FROM people WHERE seats = 7"}
    emu = emulator
    report = backfill.run(MAPPING, source, site_id=SITE, api_key=KEY, endpoint=emu.url)
    with pytest.raises(UsageError, match="no resume_key"):
        backfill.run(MAPPING, source, site_id=SITE, api_key=KEY, endpoint=emu.url,
                     checkpoint=tmp_path / "cp.json")
    assert report.operations_delivered == ROWS // 500
    assert any("would start over" in w for w in report.warnings)


@pytest.mark.slow
def test_a_killed_run_resumes_by_key_with_nothing_lost(table, tmp_path):
    import signal
    import sys

    from helpers import ROOT

    url, _ = table
    mapping = write(tmp_path / "m.yaml", MAPPING)
    emu, store = start(tmp_path, faults=Faults(latency_ms=(20, 40), seed=4))
    command = [sys.executable, "-m", "backfill", "run", str(mapping), "--database", url,
               "--query", "SELECT * FROM people WHERE seats < 100", "--endpoint", emu.url,
               "--quiet", "--rate", "2", "--concurrency", "1", "--checkpoint",
               str(tmp_path / "cp.json")]
    env = {**os.environ, "CUSTOMERIO_SITE_ID": SITE, "CUSTOMERIO_API_KEY": KEY}
    write(tmp_path / "m.yaml", MAPPING + "source: {resume_key: user_id}\n")
    try:
        proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        time.sleep(4)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        killed_at = store.operations
        resumed = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True,
                                 timeout=300)
    finally:
        emu.stop()
    assert resumed.returncode == 0, resumed.stderr
    assert 0 < killed_at < ROWS // 5
    got = stored(store)
    assert len(got) == ROWS // 5  # every row of the query delivered
    # repeats: the rows after the last chunk boundary below which all was done (here the query
    # is one chunk, so the resume starts over), and what was in flight at the kill
    assert sum(got.values()) - len(got) <= CHUNK_ROWS + 2 * 2_000


def test_a_resume_reads_after_the_last_key_done_and_sees_rows_added_since(table, tmp_path):
    import adbc_driver_postgresql.dbapi as pg

    url, _ = table
    query = "SELECT * FROM people_grow"
    with pg.connect(url) as conn:
        people(120_000).write_database("people_grow", conn, if_table_exists="replace",
                                       engine="adbc")
        conn.commit()
    first = DatabaseSource(url, query, ("user_id",))
    reader = first.open(None)  # type: ignore[arg-type]
    read = sum(task().records for task, _ in reader.tasks())
    assert read == 120_000
    point = first.resume_point(watermark=70_000)  # rows below 70,000 done: the boundary at 50k
    assert point is not None and point["row"] == 50_000
    order = sorted(f"u{i}" for i in range(120_000))
    assert point["after"] == [order[49_999]]
    with pg.connect(url) as conn:  # rows added meanwhile, before and after that key
        cursor = conn.cursor()
        cursor.execute("INSERT INTO people_grow (user_id, email, seats) VALUES "
                       "('u0000', 'a@example.com', 1), ('zz9', 'b@example.com', 2)")
        conn.commit()
    again = DatabaseSource(url, query, ("user_id",))
    assert again.resume_from(point) == 50_000
    reader = again.open(None)  # type: ignore[arg-type]
    assert reader.first_row == 50_000
    frames = [task().frame for task, _ in reader.tasks()]
    ids = [i for f in frames for i in f.get_column("user_id").to_list()]
    assert ids == [*order[50_000:], "zz9"]  # 'u0000' sorts before the key: not this run's


def test_numeric_json_uuid_bytea_and_arrays_become_json_values(table, tmp_path):
    import adbc_driver_postgresql.dbapi as pg
    import orjson

    url, _ = table
    with pg.connect(url) as conn:
        cursor = conn.cursor()
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS odd AS SELECT 'u1' AS id, 12.50::numeric(10,2) AS price, "
            """'{"a": 1}'::jsonb AS doc, ARRAY[1, 2] AS arr, """
            "'f81d4fae-7dec-11d0-a765-00a0c91e6bf6'::uuid AS u, decode('0aff', 'hex') AS raw")
        conn.commit()
    mapping = ("version: 1\noperations:\n  - type: person\n    action: identify\n"
               "    identifiers: {id: id}\n    rest: true\n")
    dump = tmp_path / "odd.ndjson"
    report = backfill.validate(mapping, {"database": url, "query": "SELECT * FROM odd"}, None,
                               dump)
    assert report.rows_rejected == 0
    [op] = orjson.loads(dump.read_bytes())["batch"]
    assert op["attributes"] == {"price": 12.5, "doc": '{"a": 1}', "arr": [1, 2],
                                "u": "f81d4fae-7dec-11d0-a765-00a0c91e6bf6", "raw": "0aff"}


def test_a_uuid_key_resumes_after_its_text(table):
    import adbc_driver_postgresql.dbapi as pg

    url, _ = table
    with pg.connect(url) as conn:
        cursor = conn.cursor()
        cursor.execute("CREATE TABLE IF NOT EXISTS by_uuid AS SELECT gen_random_uuid() AS id, i "
                       "FROM generate_series(1, 60000) AS i")
        conn.commit()
    first = DatabaseSource(url, "SELECT * FROM by_uuid", ("id",))
    ids = [i for task, _ in first.open(None).tasks()  # type: ignore[arg-type]
           for i in task().frame.get_column("id").to_list()]
    point = first.resume_point(watermark=60_000)
    assert point == {"row": 60_000, "after": [ids[-1]]} and len(ids[-1]) == 36
    again = DatabaseSource(url, "SELECT * FROM by_uuid", ("id",))
    again.resume_from({"row": 50_000, "after": [ids[49_999]]})
    rest = [i for task, _ in again.open(None).tasks()  # type: ignore[arg-type]
            for i in task().frame.get_column("id").to_list()]
    assert rest == ids[50_000:]
