"""``await queue.aenqueue(...)`` from one event loop, on SQLite and Redis:
jobs per second awaited one after another, and with *concurrency* tasks
enqueueing at once (their writes run on the loop's default thread pool),
against the plain ``queue.enqueue`` in a loop for reference.

    .venv/bin/python -m bench.aenqueue [--jobs 2000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bench.redis import redis_server
from joblane.client import Queue
from joblane.config import backend_from_url


async def sequential(queue: Queue, jobs: int) -> None:
    for _ in range(jobs):
        await queue.aenqueue("os.getpid")


async def concurrent(queue: Queue, jobs: int, tasks: int) -> None:
    async def one_task(count: int) -> None:
        for _ in range(count):
            await queue.aenqueue("os.getpid")

    await asyncio.gather(*(one_task(jobs // tasks) for _ in range(tasks)))


def rate(jobs: int, started: float) -> float:
    return jobs / (time.perf_counter() - started)


def measure(url: str, jobs: int, tasks: int) -> tuple[float, float, float]:
    backend = backend_from_url(url)
    try:
        queue = Queue("bench", backend=backend)
        queue.enqueue("os.getpid")  # connect, warm up
        started = time.perf_counter()
        for _ in range(jobs):
            queue.enqueue("os.getpid")
        plain = rate(jobs, started)
        started = time.perf_counter()
        asyncio.run(sequential(queue, jobs))
        one = rate(jobs, started)
        started = time.perf_counter()
        asyncio.run(concurrent(queue, jobs, tasks))
        many = rate(jobs // tasks * tasks, started)
        return plain, one, many
    finally:
        backend.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        urls = {
            "sqlite": f"sqlite:///{Path(tmp) / 'bench.db'}",
            "sqlite?durability=normal": f"sqlite:///{Path(tmp) / 'n.db'}?durability=normal",
        }
        with redis_server(Path(tmp)) as redis_url:
            urls["redis"] = redis_url
            print(f"{'backend':25s} {'enqueue':>10s} {'aenqueue':>10s} "
                  f"{'x' + str(args.concurrency) + ' tasks':>10s}   (jobs/s)")  # fmt: skip
            for name, url in urls.items():
                plain, one, many = measure(url, args.jobs, args.concurrency)
                print(f"{name:25s} {plain:10.0f} {one:10.0f} {many:10.0f}")


if __name__ == "__main__":
    main()
