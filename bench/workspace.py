"""The rehearsal workspace's cost: the emulator (`backfill emulator`, its own process) takes
the same batches with the workspace kept and without it (`--no-workspace`, operations stored
only), and a person's page is read over a store of 1M people.

The operations are a bulk import's: 80% identifies of new people (6 attributes), 10% events,
5% identifies of people already there, 5% relationships, sent in bodies of up to 500,000
bytes by 4 concurrent clients from this process.

    .venv/bin/python bench/workspace.py [--ops 1000000] [--people 1000000] [--rounds 3]

Each way runs `--rounds` times, alternated (the machine's own drift then hits both). Prints
JSON: the median operations/s each way (and each round's) and their ratio. With the workspace,
from the first request sent until the workspace holds the last operation; and
`workspace_answered_ops_per_s`, until the last request was answered (the workspace still
applying). Then the person page's latency (median and 99th percentile over 300 people at
random, each request timed from this process), over `--people` people.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import free_port  # noqa: E402

from backfill.emulator.applier import workspace_path  # noqa: E402

AUTH = aiohttp.BasicAuth("site", "key")
MAX_BODY = 500_000


def operations(n: int, seed: int = 1, first: int = 0) -> tuple[list[dict], int]:
    """`n` operations of the mix, and how many people they name (numbered from `first`)."""
    r, people, out = random.Random(seed), first, []
    for i in range(n):
        x = r.random()
        if x < 0.8 or people < first + 10:
            people += 1
            out.append({"type": "person", "action": "identify",
                        "identifiers": {"id": f"u{people}"},
                        "attributes": {"email": f"u{people}@example.com", "first_name": "Ann",
                                       "plan": r.choice(["free", "pro"]), "city": "Paris",
                                       "created_at": 1_700_000_000 + people,
                                       "score": r.randint(0, 100)}})
            continue
        who = {"id": f"u{r.randint(first + 1, people)}"}
        if x < 0.9:
            out.append({"type": "person", "action": "event", "identifiers": who,
                        "name": "purchase", "id": f"01J{seed:03d}{i:020d}", "timestamp": 1_700_000_000 + i,
                        "attributes": {"amount": 12.5, "sku": "A1"}})
        elif x < 0.95:
            out.append({"type": "person", "action": "identify", "identifiers": who,
                        "attributes": {"score": r.randint(0, 100)}})
        else:
            out.append({"type": "person", "action": "add_relationships", "identifiers": who,
                        "cio_relationships": [{"identifiers": {
                            "object_type_id": "1", "object_id": f"c{r.randint(1, 1000)}"}}]})
    return out, people


def bodies(ops: list[dict]) -> list[bytes]:
    out, part, size = [], [], 12
    for op in ops:
        raw = orjson.dumps(op)
        if size + len(raw) + 1 > MAX_BODY:
            out.append(b'{"batch":[' + b",".join(part) + b"]}")
            part, size = [], 12
        part.append(raw)
        size += len(raw) + 1
    if part:
        out.append(b'{"batch":[' + b",".join(part) + b"]}")
    return out


async def send(url: str, payloads: list[bytes], clients: int = 4) -> float:
    queue = list(reversed(payloads))
    async with aiohttp.ClientSession(auth=AUTH) as session:
        async def client() -> None:
            while queue:
                async with session.post(url + "/api/v2/batch", data=queue.pop(),
                                        headers={"Content-Type": "application/json"}) as r:
                    assert r.status == 200, (r.status, (await r.text())[:300])

        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        return time.perf_counter() - start


async def applied(url: str) -> None:
    """Until the workspace holds every operation stored (the summary waits for it)."""
    async with aiohttp.ClientSession(auth=AUTH) as session:
        while True:
            async with session.get(url + "/_emulator/summary") as r:
                if (await r.json())["operations_behind"] == 0:
                    return


async def pages(url: str, people: int, n: int = 300) -> list[float]:
    r, took = random.Random(7), []
    async with aiohttp.ClientSession(auth=AUTH) as session:
        for _ in range(n):
            start = time.perf_counter()
            async with session.get(f"{url}/_emulator/people/u{r.randint(1, people)}") as resp:
                assert resp.status == 200
                await resp.read()
            took.append(time.perf_counter() - start)
    return took


class Emulator:
    def __init__(self, db: Path, *flags: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "backfill"), "emulator", "--port", str(self.port),
             "--db", str(db), "--max-body", str(MAX_BODY), *flags], stderr=subprocess.PIPE)
        assert self.proc.stderr is not None
        self.proc.stderr.readline()  # "Track API emulator on ...": it listens

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def person_pages(url: str, people: int, wanted: int) -> dict[str, Any]:
    """A person's page, timed, once the store holds `wanted` people (more are sent first)."""
    more = [{"type": "person", "action": "identify", "identifiers": {"id": f"u{n}"},
             "attributes": {"plan": "free"}} for n in range(people + 1, wanted + 1)]
    asyncio.run(send(url, bodies(more)))
    people = max(people, wanted)
    times = sorted(asyncio.run(pages(url, people)))
    return {"people": people, "person_page_median_ms": round(statistics.median(times) * 1000, 1),
            "person_page_p99_ms": round(times[int(len(times) * .99)] * 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ops", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    ops, people = operations(args.ops)
    payloads = bodies(ops)
    result: dict = {"operations": args.ops, "bodies": len(payloads), "rounds": args.rounds}
    rates: dict[str, list[float]] = {"store_only": [], "workspace": [], "answered": []}
    with tempfile.TemporaryDirectory() as tmp:
        for turn in range(args.rounds):  # alternated: the machine's own drift hits both
            for name, flags in (("store_only", ("--no-workspace",)), ("workspace", ())):
                db = Path(tmp) / f"{name}{turn}.sqlite"
                with Emulator(db, *flags) as emu:
                    start = time.perf_counter()
                    answered = asyncio.run(send(emu.url, payloads))
                    if name == "workspace":
                        asyncio.run(applied(emu.url))
                        rates["answered"].append(args.ops / answered)
                    rates[name].append(args.ops / (time.perf_counter() - start))
                    if name == "workspace" and turn == args.rounds - 1:
                        result.update(person_pages(emu.url, people, args.people))
                result[f"{name}_store_mb"] = round(os.path.getsize(db) / 1e6)
                if name == "workspace":
                    result["workspace_file_mb"] = round(
                        os.path.getsize(workspace_path(str(db))) / 1e6)
    for name, got in rates.items():
        result[f"{name}_ops_per_s" if name != "answered" else "workspace_answered_ops_per_s"] = \
            round(statistics.median(got))
        result[f"{name}_each"] = [round(r) for r in got]
    result["ratio"] = round(result["workspace_ops_per_s"] / result["store_only_ops_per_s"], 2)
    result["answered_ratio"] = round(result["workspace_answered_ops_per_s"]
                                     / result["store_only_ops_per_s"], 2)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
