"""The benchmark suite: peers measured in the same run, on the same files, as ratios.

usage: python bench/run.py [--rows 1000000,5000000] [--events 1000000] [--rate-seconds 20]
                           [--mapping-rows 200000] [--repeat 3]
                           [--json bench/results.json] [--skip-peers]

Prints a table and writes the same numbers as JSON. Every command runs in its own process; its
peak RSS (VmHWM) and peak RssAnon are sampled from /proc every 10 ms (memory-mapped input pages
count in RSS, not in RssAnon).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
# The environment as the user's shell gives it: importing polars (in `data`) sets
# _RJEM_MALLOC_CONF in os.environ, which every child would inherit instead of the CLI's own
# setting (`tuning.tune_polars`), so children would keep freed memory longer than a user's run.
CLEAN_ENV = dict(os.environ)

import data  # noqa: E402
from receiver import Nginx, listening, nginx_binary  # noqa: E402

SITE, KEY = "bench-site", "bench-key"
PY = sys.executable


@dataclass
class Measure:
    name: str
    rows: int
    seconds: float
    max_rss_mb: float
    max_rss_anon_mb: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def _status(pid: int) -> dict[str, float]:
    """VmHWM (peak RSS since exec) and RssAnon of a process, in MB."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                key = line.split(":", 1)[0]
                if key in ("VmHWM", "RssAnon"):
                    out[key] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return out


REPEAT = 1  # runs of each command, its median wall time reported (`--repeat`, 3 by default;
# the other bench scripts import `measure` for commands that change state: once each there)


def measure(name: str, rows: int, cmd: list[str], env: dict | None = None) -> Measure:
    """The median of REPEAT runs' wall times, and the highest peak RSS of them (the machine's
    speed drifts by 15-30% over minutes: one run is not a figure)."""
    runs = sorted((_measure_once(name, rows, cmd, env) for _ in range(REPEAT)),
                  key=lambda m: m.seconds)
    median = runs[len(runs) // 2]
    return Measure(name, rows, median.seconds, max(m.max_rss_mb for m in runs),
                   max(m.max_rss_anon_mb for m in runs))


def _measure_once(name: str, rows: int, cmd: list[str], env: dict | None = None) -> Measure:
    """Run a command to its end: wall time, peak RSS and peak RssAnon, sampled from /proc.

    (wait4's ru_maxrss is not used: on Linux it also counts the memory the child had before exec,
    which is this process's, so it would report the benchmark's own size.)
    """
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**CLEAN_ENV, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = {"VmHWM": 0.0, "RssAnon": 0.0}

    def sample() -> None:
        while proc.poll() is None:
            for key, value in _status(proc.pid).items():
                peak[key] = max(peak[key], value)
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - started
    sampler.join()
    # backfill exits 1 for a finished run with rejects; anything else (a traceback is 1 too)
    # must end cleanly, or its time is that of a failure
    if proc.returncode not in ((0, 1) if cmd[1:3] == ["-m", "backfill"] else (0,)):
        raise RuntimeError(f"{name} failed ({proc.returncode}): {err.decode()[-2000:]}")
    return Measure(name, rows, seconds, peak["VmHWM"], peak["RssAnon"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Emulator:
    """`backfill emulator --count-only` in its own process (optionally over https)."""

    def __init__(self, tls: tuple[str, str] | None = None):
        self.port = free_port()
        cmd = [PY, "-m", "backfill", "emulator", "--count-only", "--port", str(self.port),
               "--site-id", SITE, "--api-key", KEY]
        if tls:
            cmd += ["--tls-cert", tls[0], "--tls-key", tls[1]]
        self.scheme = "https" if tls else "http"
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        if not listening(self.port):
            raise RuntimeError("the emulator did not start")

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def stats(self) -> dict:
        secret = base64.b64encode(f"{SITE}:{KEY}".encode()).decode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/_emulator/stats",
                                         headers={"Authorization": f"Basic {secret}"})
        with urllib.request.urlopen(request) as r:
            return json.loads(r.read())

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def generate(kind: str, rows: int) -> Path:
    """Inputs are generated in a child process: this one stays small."""
    code = f"import sys; sys.path.insert(0, {str(BENCH)!r}); import data; print(data.{kind}({rows}))"
    done = subprocess.run([PY, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True)
    return Path(done.stdout.strip())


def people_suite(rows: int, work: Path, peers: bool) -> dict:
    csv_path = generate("people", rows)
    mapping = work / "people.yaml"
    mapping.write_text(data.PEOPLE_MAPPING)
    env = {"CUSTOMERIO_SITE_ID": SITE, "CUSTOMERIO_API_KEY": KEY}
    out: dict = {"rows": rows, "file_mb": round(csv_path.stat().st_size / 1e6, 1)}
    floor = measure("floor", rows, [PY, str(BENCH / "floor.py"), str(csv_path)])
    report = work / f"validate_{rows}.json"
    validate = measure("validate", rows, [PY, "-m", "backfill", "validate", str(mapping),
                                          str(csv_path), "--quiet", "--report", str(report),
                                          "--rejects", str(work / "rejects.ndjson")])
    fill = json.loads(report.read_text())["fill_ratio"]
    emu = Emulator()
    try:
        run = measure("run", rows, [PY, "-m", "backfill", "run", str(mapping), str(csv_path),
                                    "--endpoint", emu.url, "--quiet", "--rate", "100000",
                                    "--restart", "--checkpoint", str(work / "cp.json"),
                                    "--rejects", str(work / "rejects.ndjson")], env)
        if peers:
            hand = measure("hand-written", rows, [PY, str(BENCH / "handwritten.py"),
                                                  str(csv_path), emu.url, SITE, KEY])
    finally:
        emu.stop()
    measures = [floor, validate, run]
    if peers:
        measures.append(hand)
        measures.append(official(rows, csv_path, work))
    measures += against_nginx(rows, csv_path, mapping, work, env, peers)
    out["measures"] = {m.name: {**asdict(m), "rows_per_s": round(m.rows_per_s)}
                       for m in measures}
    out["fill_ratio"] = fill
    return out


def against_nginx(rows: int, csv_path: Path, mapping: Path, work: Path, env: dict,
                  peers: bool, tls: bool = True) -> list[Measure]:
    """`run` (http and https) and the peers against nginx answering `200 {}`: the sending
    path's own cost, with a receiver that does not compete for the cores."""
    binary = nginx_binary()
    if binary is None:
        print("nginx is not installed: the sending path is measured against the emulator "
              "only (apt-get install nginx)", file=sys.stderr)
        return []
    receiver = Nginx(binary)
    out = []
    try:
        for name, url in (("run (nginx)", receiver.url),
                          *((("run (nginx https)", receiver.tls_url),) if tls else ())):
            out.append(measure(name, rows, [
                PY, "-m", "backfill", "run", str(mapping), str(csv_path), "--endpoint", url,
                "--quiet", "--rate", "100000", "--restart", "--checkpoint",
                str(work / "cp.json"), "--rejects", str(work / "rejects.ndjson")],
                {**env, "SSL_CERT_FILE": str(receiver.ca_file)}))
        if peers:
            out.append(measure("hand-written (nginx)", rows, [
                PY, str(BENCH / "handwritten.py"), str(csv_path), receiver.url, SITE, KEY]))
            out.append(measure("official client (nginx https)", rows, [
                PY, str(BENCH / "official.py"), str(csv_path), "127.0.0.1",
                str(receiver.tls_port), SITE, KEY], {"REQUESTS_CA_BUNDLE": str(receiver.ca_file)}))
    finally:
        receiver.stop()
    return out


def official(rows: int, csv_path: Path, work: Path) -> Measure:
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file, ca_file = work / "cert.pem", work / "key.pem", work / "ca.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    emu = Emulator(tls=(str(cert_file), str(key_file)))
    try:
        return measure("official client", rows,
                       [PY, str(BENCH / "official.py"), str(csv_path), "127.0.0.1",
                        str(emu.port), SITE, KEY], {"REQUESTS_CA_BUNDLE": str(ca_file)})
    finally:
        emu.stop()


def events_suite(rows: int, work: Path) -> dict:
    path = generate("events", rows)
    mapping = work / "events.yaml"
    mapping.write_text(data.EVENTS_MAPPING)
    floor = measure("floor", rows, [PY, str(BENCH / "floor.py"), str(path)])
    validate = measure("validate", rows, [PY, "-m", "backfill", "validate", str(mapping),
                                          str(path), "--quiet", "--rejects",
                                          str(work / "rejects.ndjson")])
    sent = against_nginx(rows, path, mapping, work, {"CUSTOMERIO_SITE_ID": SITE,
                                                     "CUSTOMERIO_API_KEY": KEY}, False, tls=False)
    return {"rows": rows, "measures": {m.name: {**asdict(m), "rows_per_s": round(m.rows_per_s)}
                                       for m in (floor, validate, *sent)}}


def scaled(sample: Path, rows: int, work: Path) -> Path:
    """The sample file's records repeated to about `rows` (its rejects repeat with them)."""
    lines = sample.read_bytes().splitlines(keepends=True)
    header, body = (lines[:1], lines[1:]) if sample.suffix == ".csv" else ([], lines)
    out = work / f"{sample.stem}_{rows}{sample.suffix}"
    with out.open("wb") as fh:
        fh.writelines(header)
        for _ in range(-(-rows // len(body))):
            fh.writelines(body)
    return out


def readable(path: Path) -> Path:
    """For the floor: an NDJSON sample's lines that are JSON objects (its bad lines, there to
    be rejected, would stop polars' reader; a CSV's short and long rows are padded and cut)."""
    if path.suffix != ".ndjson":
        return path
    import orjson

    def an_object(line: bytes) -> bool:
        try:
            return isinstance(orjson.loads(line), dict)
        except orjson.JSONDecodeError:
            return False

    out = path.with_name(f"{path.stem}.objects.ndjson")
    with path.open("rb") as src, out.open("wb") as dst:
        dst.writelines(line for line in src if an_object(line))
    return out


def mappings_suite(rows: int, work: Path) -> dict:
    """Each shipped mapping (configs/) on its sample file scaled up: the floor and `validate`.
    Every kind of operation has its own expressions; a slow polars path in one (relationships,
    device timestamps, form requests) shows here and nowhere else."""
    out = {}
    for config in sorted((ROOT / "configs").glob("*.yaml")):
        source = next(line.split(":", 1)[1].split("#")[0].strip()
                      for line in config.read_text().splitlines()
                      if line.strip().startswith("path:"))
        path = scaled((config.parent / source).resolve(), rows, work)  # from its folder
        n = sum(1 for _ in path.open("rb")) - (1 if path.suffix == ".csv" else 0)
        floor = measure("floor", n, [PY, str(BENCH / "floor.py"), str(readable(path))])
        validate = measure("validate", n, [PY, "-m", "backfill", "validate", str(config),
                                           str(path), "--quiet", "--rejects",
                                           str(work / "rejects.ndjson")])
        out[f"mapping {config.stem}"] = {"rows": n, "measures": {
            m.name: {**asdict(m), "rows_per_s": round(m.rows_per_s)} for m in (floor, validate)}}
    return out


def rate_suite(seconds: float, work: Path, rate: int = 200) -> dict:
    """`--rate 200` held for `seconds`: form submissions, one request each."""
    path, mapping_text = data.forms(int(rate * seconds))
    mapping = work / "forms.yaml"
    mapping.write_text(mapping_text)
    emu = Emulator()
    try:
        started = time.perf_counter()
        subprocess.run([PY, "-m", "backfill", "run", str(mapping), str(path), "--endpoint",
                        emu.url, "--quiet", "--rate", str(rate), "--restart", "--checkpoint",
                        str(work / "rate.cp.json"), "--rejects", str(work / "r.ndjson")],
                       cwd=ROOT, env={**CLEAN_ENV, "CUSTOMERIO_SITE_ID": SITE,
                                      "CUSTOMERIO_API_KEY": KEY}, check=True,
                       capture_output=True)
        wall = time.perf_counter() - started
        stats = emu.stats()
    finally:
        emu.stop()
    per_second = stats["per_second"]
    seconds_seen = sorted(int(k) for k in per_second)
    full = [per_second[str(s)] for s in seconds_seen[1:-1]]  # whole seconds only
    return {"rate": rate, "requests": stats["requests"], "wall_s": round(wall, 2),
            "mean_per_s": round(sum(full) / len(full), 1) if full else 0.0,
            "max_in_any_second": stats["max_per_second"]}


def ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b else 0.0


def summarise(results: dict) -> list[str]:
    lines = ["| input | command | rows/s | x floor | peak RSS MB | peak RssAnon MB |",
             "|---|---|---|---|---|---|"]
    for key, suite in results.items():
        if not key.startswith(("people", "events", "mapping")):
            continue
        ms = suite["measures"]
        floor = ms["floor"]["rows_per_s"]
        for name, m in ms.items():
            lines.append(f"| {key} | {name} | {m['rows_per_s']:,} | {ratio(m['rows_per_s'], floor)}"
                         f" | {m['max_rss_mb']:.0f} | {m['max_rss_anon_mb']:.0f} |")
    lines.append("")
    lines.append("| figure | value | target |")
    lines.append("|---|---|---|")
    for key, suite in results.items():
        if not key.startswith("people"):
            continue
        ms = suite["measures"]
        f, v, r = (ms[n]["rows_per_s"] for n in ("floor", "validate", "run"))
        lines.append(f"| {key}: validate / floor | {ratio(v, f)} | >= 0.6 (aim 0.8) |")
        lines.append(f"| {key}: run / floor | {ratio(r, f)} | >= 0.4 (aim 0.6) |")
        if "hand-written" in ms:
            lines.append(f"| {key}: run / hand-written | {ratio(r, ms['hand-written']['rows_per_s'])}"
                         " | >= 5 |")
            lines.append(f"| {key}: run / official client | "
                         f"{ratio(r, ms['official client']['rows_per_s'])} | >= 10 |")
        if "run (nginx)" in ms:
            n = ms["run (nginx)"]["rows_per_s"]
            lines.append(f"| {key}: run (nginx) / floor | {ratio(n, f)} | >= 0.4 |")
            lines.append(f"| {key}: run (nginx https) / floor | "
                         f"{ratio(ms['run (nginx https)']['rows_per_s'], f)} | |")
            if "hand-written (nginx)" in ms:
                lines.append(f"| {key}: run (nginx) / hand-written (nginx) | "
                             f"{ratio(n, ms['hand-written (nginx)']['rows_per_s'])} | >= 5 |")
                tls, them = (ms[k]["rows_per_s"] for k in ("run (nginx https)",
                                                           "official client (nginx https)"))
                lines.append(f"| {key}: run (nginx https) / official client (nginx https) | "
                             f"{ratio(tls, them)} | >= 12 |")
        for name in ("validate", "run"):
            lines.append(f"| {key}: peak RSS {name} / floor | "
                         f"{ratio(ms[name]['max_rss_mb'], ms['floor']['max_rss_mb'])} | <= 2 "
                         "(aim 1.25) |")
        lines.append(f"| {key}: mean batch fill | {suite['fill_ratio']} | >= 0.98 |")
    people = sorted((k for k in results if k.startswith("people")),
                    key=lambda k: results[k]["rows"])
    if len(people) >= 2:
        small, big = results[people[0]]["measures"], results[people[-1]]["measures"]
        for name in ("floor", "validate", "run"):
            lines.append(f"| peak RSS {name}, {people[-1]} / {people[0]} | "
                         f"{ratio(big[name]['max_rss_mb'], small[name]['max_rss_mb'])} | "
                         + ("<= 1.5" if name != "floor" else "(the floor's own growth)") + " |")
    if "rate" in results:
        r = results["rate"]
        lines.append(f"| --rate {r['rate']}: mean achieved | {r['mean_per_s']} | >= 190 |")
        lines.append(f"| --rate {r['rate']}: most in any one second | {r['max_in_any_second']}"
                     " | <= 200 |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="1000000,5000000")
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--rate-seconds", type=float, default=20)
    ap.add_argument("--mapping-rows", type=int, default=200_000,
                    help="Rows of each shipped mapping's sample file, scaled up (0: skip).")
    ap.add_argument("--json", default=str(BENCH / "results.json"))
    ap.add_argument("--skip-peers", action="store_true",
                    help="Leave out the hand-written baseline and the official client.")
    ap.add_argument("--repeat", type=int, default=3,
                    help="Runs of each command; the median wall time is reported.")
    ap.add_argument("--table", action="store_true",
                    help="Print the results table of --json (BENCHMARKS.md's), run nothing.")
    args = ap.parse_args()
    if args.table:
        print("\n".join(summarise(json.loads(Path(args.json).read_text()))))
        return
    globals()["REPEAT"] = max(1, args.repeat)
    # byte-compiled as an installed package is (pip compiles it; with PYTHONDONTWRITEBYTECODE
    # set, as on the CI machines, an editable checkout would compile ~60 modules at each start:
    # 0.13 s a command, which polars, the floor's only import, does not pay)
    subprocess.run([PY, "-m", "compileall", "-q", str(ROOT / "backfill")], check=True,
                   stdout=subprocess.DEVNULL)
    results: dict = {"machine": {"cores": os.cpu_count(), "memory_gb": round(
        os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(), "command": " ".join(sys.argv)}}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for i, rows in enumerate(int(r) for r in args.rows.split(",")):
            # the peers are measured on the first size (they are slow)
            results[f"people {rows:,}"] = people_suite(rows, work, not args.skip_peers and i == 0)
            print(f"people {rows:,}: done", file=sys.stderr)
        if args.events:
            results[f"events {args.events:,}"] = events_suite(args.events, work)
            print("events: done", file=sys.stderr)
        if args.mapping_rows:
            results.update(mappings_suite(args.mapping_rows, work))
            print("mappings: done", file=sys.stderr)
        if args.rate_seconds:
            results["rate"] = rate_suite(args.rate_seconds, work)
    Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    print("\n".join(summarise(results)))
    print(f"\nmachine: {results['machine']}")


if __name__ == "__main__":
    main()
