"""The HTTP client's own cost: 222 bodies of about 500 KB posted with httpx as `run` posts them
(8 in flight, Basic auth), to nginx answering `200 {}` (bench/receiver.py), nothing else.
Prints CPU-ms per request; `--repeat` runs it several times (the machine's speed drifts).

    .venv/bin/python bench/http_cost.py --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from receiver import Nginx, nginx_binary  # noqa: E402

OPERATION = (b'{"type":"person","action":"identify","identifiers":{"id":"u1"},"attributes":{"a":"'
             + b"x" * 80 + b'"}}')
BODY = b'{"batch":[' + b",".join([OPERATION] * 3000) + b"]}"


async def post_all(url: str, requests: int) -> tuple[float, float]:
    client = httpx.AsyncClient(base_url=url, auth=httpx.BasicAuth("site", "key"),
                               limits=httpx.Limits(max_connections=8,
                                                   max_keepalive_connections=8),
                               headers={"content-type": "application/json"})
    gate = asyncio.Semaphore(8)

    async def one() -> None:
        async with gate:
            answer = await client.post("/api/v2/batch", content=BODY)
            assert answer.status_code == 200

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*[one() for _ in range(requests)])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    await client.aclose()
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=222)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    binary = nginx_binary()
    if binary is None:
        sys.exit("nginx is not installed (apt-get install nginx)")
    receiver = Nginx(binary)
    try:
        for _ in range(args.repeat):
            wall, cpu = asyncio.run(post_all(receiver.url, args.requests))
            print(f"{args.requests} bodies of {len(BODY):,} bytes: wall {wall:.3f} s, CPU "
                  f"{cpu:.3f} s, {1000 * cpu / args.requests:.2f} CPU-ms a request")
    finally:
        receiver.stop()


if __name__ == "__main__":
    main()
