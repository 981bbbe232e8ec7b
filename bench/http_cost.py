"""The HTTP client's own cost: 222 bodies of about 500 KB, 8 in flight, Basic auth, to nginx
answering `200 {}` (bench/receiver.py), nothing else; with the client `run` uses
(`backfill.delivery.sender.Sender`, aiohttp) and with httpx (the client before it), alternated.
Prints CPU-ms per request; `--repeat` runs each several times (the machine's speed drifts).

    .venv/bin/python bench/http_cost.py --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from receiver import Nginx, nginx_binary  # noqa: E402

from backfill.delivery.sender import Kind, Sender  # noqa: E402

OPERATION = (b'{"type":"person","action":"identify","identifiers":{"id":"u1"},"attributes":{"a":"'
             + b"x" * 80 + b'"}}')
BODY = b'{"batch":[' + b",".join([OPERATION] * 3000) + b"]}"


async def timed(requests: int, post: Callable[[], Awaitable[None]]) -> tuple[float, float]:
    gate = asyncio.Semaphore(8)

    async def one() -> None:
        async with gate:
            await post()

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*[one() for _ in range(requests)])
    return time.perf_counter() - wall, time.process_time() - cpu


async def with_httpx(url: str, requests: int) -> tuple[float, float]:
    client = httpx.AsyncClient(base_url=url, auth=httpx.BasicAuth("site", "key"),
                               limits=httpx.Limits(max_connections=8,
                                                   max_keepalive_connections=8),
                               headers={"content-type": "application/json"})

    async def post() -> None:
        answer = await client.post("/api/v2/batch", content=BODY)
        assert answer.status_code == 200

    try:
        return await timed(requests, post)
    finally:
        await client.aclose()


async def with_sender(url: str, requests: int) -> tuple[float, float]:
    sender = Sender(url, "site", "key", concurrency=8)

    async def post() -> None:
        outcome = await sender.post("/api/v2/batch", BODY)
        assert outcome.kind is Kind.OK, outcome

    try:
        return await timed(requests, post)
    finally:
        await sender.aclose()


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
            for name, client in (("run's Sender (aiohttp)", with_sender), ("httpx", with_httpx)):
                wall, cpu = asyncio.run(client(receiver.url, args.requests))
                print(f"{name}: {args.requests} bodies of {len(BODY):,} bytes: wall {wall:.3f} s,"
                      f" CPU {cpu:.3f} s, {1000 * cpu / args.requests:.2f} CPU-ms a request")
    finally:
        receiver.stop()


if __name__ == "__main__":
    main()
