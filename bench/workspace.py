"""The rehearsal workspace's cost: the emulator (`backfill emulator`, its own process) takes
the same batches with the workspace kept and without it (`--no-workspace`, operations stored
only), and a person's page is read over a store of 1M people.

The operations are a bulk import's: 80% identifies of new people (6 attributes), 10% events,
5% identifies of people already there, 5% relationships, sent in bodies of up to 500,000
bytes by 4 concurrent clients from this process.

    .venv/bin/python bench/workspace.py [--ops 1000000] [--people 1000000]

Prints JSON: operations/s each way and their ratio, and the person page's latency (median and
99th percentile over 300 people at random, each request timed from this process).
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

import aiohttp
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import free_port  # noqa: E402

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ops", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, default=1_000_000)
    args = parser.parse_args()
    ops, people = operations(args.ops)
    payloads = bodies(ops)
    result: dict = {"operations": args.ops, "bodies": len(payloads)}
    with tempfile.TemporaryDirectory() as tmp:
        for name, flags in (("store_only", ("--no-workspace",)), ("workspace", ())):
            db = Path(tmp) / f"{name}.sqlite"
            with Emulator(db, *flags) as emu:
                took = asyncio.run(send(emu.url, payloads))
                result[f"{name}_ops_per_s"] = round(args.ops / took)
                if name == "workspace":
                    more = [{"type": "person", "action": "identify",
                             "identifiers": {"id": f"u{n}"}, "attributes": {"plan": "free"}}
                            for n in range(people + 1, args.people + 1)]
                    asyncio.run(send(emu.url, bodies(more)))  # to `--people` people
                    people = max(people, args.people)
                    times = sorted(asyncio.run(pages(emu.url, people)))
                    result["people"] = people
                    result["person_page_median_ms"] = round(statistics.median(times) * 1000, 1)
                    result["person_page_p99_ms"] = round(times[int(len(times) * .99)] * 1000, 1)
            result[f"{name}_store_mb"] = round(os.path.getsize(db) / 1e6)
    result["ratio"] = round(result["workspace_ops_per_s"] / result["store_only_ops_per_s"], 2)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
