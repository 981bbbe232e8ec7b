"""Reading from object storage against local disk: `validate` of the same 1M-row people CSV
from a local S3-compatible server (moto, another process on the same cores) and from disk,
alternated, in one run of this script.

    python bench/remote.py --rows 1000000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import PY, data, free_port, generate, measure  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    csv_path = generate("people", args.rows)
    port = free_port()
    server = subprocess.Popen(["moto_server", "-p", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "bench",
           "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        upload = ("import boto3; c = boto3.client('s3'); c.create_bucket(Bucket='bench-exports');"
                  f"c.upload_file({str(csv_path)!r}, 'bench-exports', 'people.csv')")
        subprocess.run([PY, "-c", upload], env={**os.environ, **env}, check=True)
        with tempfile.TemporaryDirectory() as tmp:
            mapping = Path(tmp) / "people.yaml"
            mapping.write_text(data.PEOPLE_MAPPING)
            local, remote = [], []
            for _ in range(args.repeat):
                for source, out in ((str(csv_path), local),
                                    ("s3://bench-exports/people.csv", remote)):
                    out.append(measure("validate", args.rows, [
                        PY, "-m", "backfill", "validate", str(mapping), source, "--quiet",
                        "--rejects", str(Path(tmp) / "rejects.ndjson")], env))
    finally:
        server.terminate()
        server.wait(10)
    median = sorted(m.seconds for m in local)[len(local) // 2]
    median_remote = sorted(m.seconds for m in remote)[len(remote) // 2]
    print(json.dumps({
        "rows": args.rows, "file_mb": round(csv_path.stat().st_size / 1e6, 1),
        "local_s": [round(m.seconds, 2) for m in local],
        "s3_s": [round(m.seconds, 2) for m in remote],
        "speed_ratio": round(median / median_remote, 3),
        "local_rss_mb": [round(m.max_rss_mb) for m in local],
        "s3_rss_mb": [round(m.max_rss_mb) for m in remote],
    }, indent=2))


if __name__ == "__main__":
    main()
