"""Redis memory per queued job, for two jobs, as bench/redis.py measures it.

    python -m bench.redis_memory --jobs 10000 --repeat 3

Starts a throwaway ``redis-server`` (bench.redis.redis_server: a free port, a
temporary directory, no persistence). For each job kind: FLUSHALL, one job
enqueued so that the queue's keys exist, ``MEMORY PURGE``, ``used_memory``
read, N jobs enqueued one by one through ``Queue.enqueue``, ``used_memory``
read again; the figure is the difference over N. The kinds:

- ``noop``: ``bench.tasks.noop(i)`` on queue ``default`` (the figure that
  bench/redis.py reports and tests/redis/test_costs.py bounds);
- ``realistic``: a function named with 35 characters
  (``myapp.notifications.tasks.send_mail``), called with two keyword
  arguments (``user_id=i, template="welcome"``), on queue ``default``.

Only enqueues: no worker runs, so the function need not exist. Prints one line
per kind and run, then the median of each kind.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from bench.redis import redis_server
from joblane import Queue

REALISTIC = "myapp.notifications.tasks.send_mail"
assert len(REALISTIC) == 35

KINDS: dict[str, Callable[[Queue, int], Any]] = {
    "noop": lambda q, i: q.enqueue("bench.tasks.noop", i),
    "realistic": lambda q, i: q.enqueue(REALISTIC, user_id=i, template="welcome"),
}


def measure(url: str, kind: str, jobs: int) -> float:
    client = redis.Redis.from_url(url)
    client.flushall()
    queue = Queue("default", url=url)
    enqueue = KINDS[kind]
    try:
        enqueue(queue, 0)
        client.memory_purge()
        before = int(client.info("memory")["used_memory"])
        for i in range(jobs):
            enqueue(queue, i)
        after = int(client.info("memory")["used_memory"])
    finally:
        queue.backend.close()
        client.close()
    return (after - before) / jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    figures: dict[str, list[float]] = {kind: [] for kind in KINDS}
    with tempfile.TemporaryDirectory() as tmp, redis_server(Path(tmp)) as url:
        info = redis.Redis.from_url(url).info("server")
        print(f"redis-server {info['redis_version']}, {args.jobs:,} jobs one by one")
        for run in range(args.repeat):
            for kind in KINDS:
                per_job = measure(url, kind, args.jobs)
                figures[kind].append(per_job)
                print(f"run {run + 1}: {kind}: {per_job:.1f} B/job")
    for kind, values in figures.items():
        spread = f"{min(values):.1f}-{max(values):.1f}"
        print(f"{kind}: median {statistics.median(values):.1f} B/job (runs {spread})")


if __name__ == "__main__":
    main()
