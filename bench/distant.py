"""`run` against a distant, throttling API: nginx on loopback made to answer like one, with
the echo module's `echo_sleep` (latency) and `limit_req` (429 + `Retry-After: 1` above a
capacity, keyed on the client's address), its capacity changed mid-run by `nginx -s reload`.
Every figure is a ratio to what the API allowed, in the same run; adaptive sending (the
default) against `--adaptive off` (a fixed 8 in flight, as before it).

usage: python bench/distant.py [--people-rows 1000000] [--forms 10000] [--modes on,off]
Needs Debian's nginx and libnginx-mod-http-echo (`make bench` installs them).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data import PEOPLE_MAPPING, forms, people  # noqa: E402
from receiver import _free_port, listening, nginx_binary  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ECHO = "/usr/lib/nginx/modules/ngx_http_echo_module.so"
CONF = """\
load_module {echo};
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    log_format status '$msec $status $request_method';
    access_log {dir}/access.log status;
    client_max_body_size 64m;
    client_body_buffer_size 1m;
    client_body_temp_path {dir}/body;
    keepalive_requests 1000000;
    {zone}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        listen 127.0.0.1:{tls_port} ssl backlog=4096;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        default_type application/json;
        location / {{
            {limit}
            echo_read_request_body;
            echo_sleep {latency};
            echo '{{}}';
        }}
        location @throttled {{
            add_header Retry-After 1 always;
            return 429 '{{"errors": [{{"message": "too many requests"}}]}}';
        }}
    }}
}}
"""
SITE, KEY = "bench-site", "bench-key"


class Distant:
    """nginx answering every request after `latency` seconds, at most `capacity` a second (429
    beyond, with Retry-After: 1); `capacity` None: unlimited."""

    def __init__(self, latency: float, capacity: int | None = None):
        import trustme

        self.dir = Path(tempfile.mkdtemp(prefix="backfill-distant-"))
        self.port, self.tls_port, self.latency = _free_port(), _free_port(), latency
        ca = trustme.CA()  # https for the official client, which speaks nothing else
        issued = ca.issue_cert("127.0.0.1", "localhost")
        self.cert, self.key, self.ca_file = (self.dir / n for n in ("c.pem", "k.pem", "ca.pem"))
        issued.cert_chain_pems[0].write_to_path(str(self.cert))
        issued.private_key_pem.write_to_path(str(self.key))
        ca.cert_pem.write_to_path(str(self.ca_file))
        self.conf = self.dir / "nginx.conf"
        self._write(capacity)
        self.proc = subprocess.Popen([nginx_binary(), "-c", str(self.conf), "-p", str(self.dir)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not listening(self.port):
            raise RuntimeError((self.dir / "error.log").read_text())

    def _write(self, capacity: int | None) -> None:
        zone = limit = ""
        if capacity:
            zone = (f"limit_req_zone $binary_remote_addr zone=api:1m rate={capacity}r/s; "
                    "limit_req_status 429;")
            # a bucket of a tenth of a second's capacity: bursts within it pass, as an API's
            limit = f"limit_req zone=api burst={max(1, capacity // 10)} nodelay; " \
                    "error_page 429 = @throttled;"
        self.conf.write_text(CONF.format(echo=ECHO, dir=self.dir, port=self.port, zone=zone,
                                         limit=limit, latency=self.latency,
                                         tls_port=self.tls_port, cert=self.cert, key=self.key))

    def capacity(self, capacity: int | None) -> None:
        """A new capacity from now on (`nginx -s reload`)."""
        self._write(capacity)
        subprocess.run([nginx_binary(), "-c", str(self.conf), "-p", str(self.dir), "-s",
                        "reload"], check=True, capture_output=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def statuses(self) -> Counter:
        """POSTs answered, by status, since it started."""
        lines = (self.dir / "access.log").read_text().splitlines()
        return Counter(int(line.split()[1]) for line in lines if line.endswith("POST"))

    def timeline(self) -> list[tuple[int, Counter]]:
        """POSTs answered in each second since the first, by status."""
        lines = [line.split() for line in (self.dir / "access.log").read_text().splitlines()
                 if line.endswith("POST")]
        if not lines:
            return []
        first = float(lines[0][0])
        seconds: dict[int, Counter] = {}
        for when, status, _ in lines:
            seconds.setdefault(int(float(when) - first), Counter())[int(status)] += 1
        return sorted(seconds.items())

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def run(mapping: Path, data: Path, url: str, work: Path, *extra: str) -> dict:
    """One `backfill run`, fresh (no checkpoint), its report."""
    report = work / "report.json"
    for old in work.glob(f"{data.name}.*"):
        old.unlink()
    cmd = [sys.executable, "-m", "backfill", "run", str(mapping), str(data), "--endpoint", url,
           "--quiet", "--site-id", SITE, "--api-key", KEY, "--checkpoint",
           str(work / "cp.json"), "--rejects", str(work / "rejects.ndjson"), "--restart",
           "--report", str(report), *extra]
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise RuntimeError(f"run failed ({done.returncode}): {done.stderr[-2000:]}")
    out = json.loads(report.read_text())
    out["wall_s"] = round(wall, 2)
    return out


def people_at(latency: float, rows: int, work: Path, *extra: str) -> dict:
    mapping = work / "people.yaml"
    mapping.write_text(PEOPLE_MAPPING)
    server = Distant(latency)
    try:
        return run(mapping, people(rows), server.url, work, *extra)
    finally:
        server.stop()


def baselines(latency: float, rows: int, work: Path) -> dict:
    """The hand-written script (httpx, one body at a time) and the official client (batch() of
    300, over https) on the same people rows at this latency, and `run` beside them."""
    path = people(rows)
    mapping = work / "people.yaml"
    mapping.write_text(PEOPLE_MAPPING)
    server = Distant(latency)
    bench = Path(__file__).resolve().parent
    try:
        out = {"rows": rows, "latency_ms": latency * 1000}
        for name, cmd, env in (
                ("handwritten_s", [sys.executable, str(bench / "handwritten.py"), str(path),
                                   server.url, SITE, KEY], {}),
                ("official_s", [sys.executable, str(bench / "official.py"), str(path),
                                "127.0.0.1", str(server.tls_port), SITE, KEY],
                 {"REQUESTS_CA_BUNDLE": str(server.ca_file)})):
            started = time.perf_counter()
            subprocess.run(cmd, cwd=bench, check=True, capture_output=True,
                           env={**os.environ, **env})
            out[name] = round(time.perf_counter() - started, 2)
        out["backfill_s"] = run(mapping, path, server.url, work)["wall_s"]
        return out
    finally:
        server.stop()


def forms_at(latency: float, rows: int, work: Path, capacity: int | None = None,
             schedule: list[tuple[float, int]] | None = None, *extra: str) -> dict:
    """Form submissions (a request a row) at this latency and capacity; `schedule`: (seconds
    from the start, capacity) changes made while it runs."""
    path, text = forms(rows)
    mapping = work / "forms.yaml"
    mapping.write_text(text)
    server = Distant(latency, capacity)
    changes = threading.Thread(target=_follow, args=(server, schedule or []), daemon=True)
    try:
        changes.start()
        out = run(mapping, path, server.url, work, *extra)
        out["statuses"] = dict(server.statuses())
        out["timeline"] = [(t, dict(c)) for t, c in server.timeline()]
        return out
    finally:
        server.stop()


def _follow(server: Distant, schedule: list[tuple[float, int]]) -> None:
    started = time.monotonic()
    for at, capacity in schedule:
        time.sleep(max(0.0, at - (time.monotonic() - started)))
        server.capacity(capacity)


def ideal_seconds(requests: int, schedule: list[tuple[float, int]], first: int) -> float:
    """How long `requests` take at exactly the capacity allowed, as it changes."""
    t, left, capacity = 0.0, float(requests), first
    for at, nxt in [*schedule, (float("inf"), 0)]:
        span = at - t
        if left <= capacity * span:
            return t + left / capacity
        left -= capacity * span
        t, capacity = at, nxt
    return t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people-rows", type=int, default=1_000_000)
    parser.add_argument("--forms", type=int, default=10_000)
    parser.add_argument("--modes", default="on,off", help="adaptive on, off, or both")
    parser.add_argument("--baselines", type=int, default=100_000, metavar="ROWS",
                        help="people rows for the hand-written and official baselines at 200 "
                        "ms (0: skip them)")
    args = parser.parse_args()
    if not nginx_binary() or not Path(ECHO).exists():
        sys.exit("needs nginx and libnginx-mod-http-echo (apt-get install nginx "
                 "libnginx-mod-http-echo)")
    work = Path(tempfile.mkdtemp(prefix="backfill-distant-work-"))
    results: dict = {}
    for mode in (["--adaptive", m] for m in args.modes.split(",")):
        name = mode[1]
        near = people_at(0.0, args.people_rows, work, *mode)
        far = people_at(0.2, args.people_rows, work, *mode)
        results[f"people_{name}"] = {
            "rows": args.people_rows, "at_0ms_s": near["elapsed_s"],
            "at_200ms_s": far["elapsed_s"],
            "ratio": round(near["elapsed_s"] / far["elapsed_s"], 3),
            "sending": far.get("sending")}
        fast = forms_at(0.15, args.forms, work, None, None, *mode)
        results[f"forms_150ms_{name}"] = {
            "requests": fast["requests"], "elapsed_s": fast["elapsed_s"],
            "requests_per_s": round(fast["requests"] / fast["elapsed_s"], 1),
            "sending": fast.get("sending")}
        for label, schedule in (("capacity_300", []),
                                ("capacity_300_100_300", [(10.0, 100), (20.0, 300)])):
            got = forms_at(0.1, args.forms, work, 300, schedule, *mode)
            ideal = ideal_seconds(args.forms, schedule, 300)
            statuses = got["statuses"]
            results[f"{label}_{name}"] = {
                "requests": sum(statuses.values()), "delivered": statuses.get(200, 0),
                "throttled": statuses.get(429, 0),
                "throttled_share": round(statuses.get(429, 0) / max(sum(statuses.values()), 1),
                                         4),
                "elapsed_s": got["elapsed_s"], "ideal_s": round(ideal, 1),
                "over_ideal": round(got["elapsed_s"] / ideal, 3),
                "sending": got.get("sending")}
        print(json.dumps({k: v for k, v in results.items() if k.endswith(name)}, indent=1),
              flush=True)
    if args.baselines:
        results["baselines_200ms"] = baselines(0.2, args.baselines, work)
        print(json.dumps(results["baselines_200ms"]), flush=True)
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
