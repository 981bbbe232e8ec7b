"""Reading from PostgreSQL: `validate` of the suite's people rows from a table (a server started
here, on the same cores) against `validate` of the same rows as a local CSV, in one run; and the
peak RSS of 1M against 5M rows from the table (flat memory).

    python bench/database.py --rows 1000000,5000000 --repeat 3
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import PY, data, free_port, generate, measure  # noqa: E402

MAPPING = data.PEOPLE_MAPPING


def server(folder: str) -> tuple[str, callable]:
    bin_ = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]
    port = free_port()
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")

    def run(line: str) -> None:
        cmd = ["su", "postgres", "-s", "/bin/sh", "-c", line] if os.geteuid() == 0 else \
            ["sh", "-c", line]
        subprocess.run(cmd, check=True, capture_output=True)

    run(f"{bin_}/initdb -D {folder}/data -A trust -U postgres")
    run(f"{bin_}/pg_ctl -D {folder}/data -l {folder}/log -o '-p {port} -k {folder} "
        f"-c listen_addresses=127.0.0.1' -w start")
    return f"postgresql://postgres@127.0.0.1:{port}/postgres", \
        lambda: run(f"{bin_}/pg_ctl -D {folder}/data -m immediate stop")


def load(url: str, csv_path: Path, table: str) -> None:
    """The CSV's rows as a table, every column text (as the CSV mapping expects)."""
    code = (f"import polars as pl, adbc_driver_postgresql.dbapi as pg\n"
            f"f = pl.read_csv({str(csv_path)!r}, infer_schema=False)\n"
            f"with pg.connect({url!r}) as c:\n"
            f"    f.write_database({table!r}, c, if_table_exists='replace', engine='adbc')\n"
            f"    c.commit()\n")
    subprocess.run([PY, "-c", code], check=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="1000000,5000000")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    sizes = [int(r) for r in args.rows.split(",")]
    folder = tempfile.mkdtemp(prefix="backfill-pg-bench-")
    url, stop = server(folder)
    out: dict = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            mapping = Path(tmp) / "people.yaml"
            mapping.write_text(MAPPING)
            for rows in sizes:
                csv_path = generate("people", rows)
                table = f"people_{rows}"
                load(url, csv_path, table)
                local, db = [], []
                for _ in range(args.repeat):
                    local.append(measure("csv", rows, [
                        PY, "-m", "backfill", "validate", str(mapping), str(csv_path), "--quiet",
                        "--rejects", f"{tmp}/r.ndjson"]))
                    db.append(measure("database", rows, [
                        PY, "-m", "backfill", "validate", str(mapping), "--database", url,
                        "--query", f"SELECT * FROM {table}", "--quiet", "--rejects",
                        f"{tmp}/r.ndjson"]))
                median = lambda ms: sorted(m.seconds for m in ms)[len(ms) // 2]  # noqa: E731
                out[f"{rows:,} rows"] = {
                    "csv_s": [round(m.seconds, 2) for m in local],
                    "database_s": [round(m.seconds, 2) for m in db],
                    "speed_ratio": round(median(local) / median(db), 3),
                    "csv_rss_mb": [round(m.max_rss_mb) for m in local],
                    "database_rss_mb": [round(m.max_rss_mb) for m in db]}
    finally:
        stop()
        shutil.rmtree(folder, ignore_errors=True)
    if len(sizes) > 1:
        first, last = (max(out[f"{r:,} rows"]["database_rss_mb"]) for r in (sizes[0], sizes[-1]))
        out["rss_growth"] = round(last / first, 3)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
