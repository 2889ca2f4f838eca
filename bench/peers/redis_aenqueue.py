"""arq's and saq's async enqueue, for ``bench/aenqueue.py``; run in the peer's own venv.

    bench/.venvs/arq/bin/python bench/peers/redis_aenqueue.py --peer arq \\
        --redis-url redis://127.0.0.1:PORT/0 --jobs 2000 --concurrency 16 --repeat 5

One event loop (``asyncio.run``) for the whole run, one client made and connected before
the clock starts, as an app would hold it.  Each repetition: FLUSHALL, then N jobs
``noop(i)`` awaited one after another (``sequential``); FLUSHALL, then N jobs from
``--concurrency`` tasks at once, N / concurrency each (``concurrent``).  Timed with
``time.perf_counter`` around the awaits; the queue is checked to hold N jobs after each.

- arq: ``create_pool(RedisSettings.from_dsn(url))`` and ``ArqRedis.enqueue_job("noop", i)``,
  arq's defaults (pickle, random job ids; one ``WATCH``/``MULTI``/``EXEC`` per job).
- saq: ``Queue.from_url(url)``, ``await queue.connect()``, ``queue.enqueue("noop", i=i)``,
  saq's defaults (JSON; one Lua script per job).

Prints ONE JSON object on stdout: ``{"name", "version", "sequential": [jobs/s per
repetition], "concurrent": [...]}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from importlib.metadata import version
from typing import Any

import redis

Enqueue = Callable[[int], Awaitable[Any]]


async def arq_side(url: str) -> tuple[Enqueue, Callable[[], Awaitable[int]], Callable[[], Any]]:
    from arq import create_pool
    from arq.connections import RedisSettings
    from arq.constants import default_queue_name

    pool = await create_pool(RedisSettings.from_dsn(url))

    async def enqueue(i: int) -> Any:
        return await pool.enqueue_job("noop", i)

    async def queued() -> int:
        return int(await pool.zcard(default_queue_name))

    return enqueue, queued, pool.aclose


async def saq_side(url: str) -> tuple[Enqueue, Callable[[], Awaitable[int]], Callable[[], Any]]:
    from saq import Queue

    queue = Queue.from_url(url)
    await queue.connect()

    async def enqueue(i: int) -> Any:
        return await queue.enqueue("noop", i=i)

    async def queued() -> int:
        return int(await queue.count("queued"))

    return enqueue, queued, queue.disconnect


async def measure(peer: str, url: str, jobs: int, tasks: int, repeat: int) -> dict[str, Any]:
    side = arq_side if peer == "arq" else saq_side
    enqueue, queued, close = await side(url)
    flusher = redis.Redis.from_url(url)
    sequential: list[float] = []
    concurrent: list[float] = []
    try:
        await enqueue(-1)  # connected, scripts loaded
        for _ in range(repeat):
            flusher.flushall()
            t0 = time.perf_counter()
            for i in range(jobs):
                await enqueue(i)
            sequential.append(jobs / (time.perf_counter() - t0))
            if (n := await queued()) != jobs:
                raise RuntimeError(f"{n} jobs queued after {jobs} sequential enqueues")

            flusher.flushall()
            each = jobs // tasks

            async def one_task(first: int, each: int = each) -> None:
                for i in range(first, first + each):
                    await enqueue(i)

            t0 = time.perf_counter()
            await asyncio.gather(*(one_task(k * each) for k in range(tasks)))
            concurrent.append(each * tasks / (time.perf_counter() - t0))
            if (n := await queued()) != each * tasks:
                raise RuntimeError(f"{n} jobs queued after {each * tasks} concurrent enqueues")
        flusher.flushall()
    finally:
        flusher.close()
        result = close()
        if asyncio.iscoroutine(result):
            await result
    return {"name": peer, "version": version(peer), "sequential": sequential,
            "concurrent": concurrent}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", choices=("arq", "saq"), required=True)
    parser.add_argument("--redis-url", required=True, help="the throwaway Redis to use")
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    result = asyncio.run(
        measure(args.peer, args.redis_url, args.jobs, args.concurrency, args.repeat)
    )
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
