"""saq peer of ``bench/redis.py``; method in ``redis_common.py``.

Run with the saq venv's python (``setup_env.sh saq``)::

    bench/.venvs/saq/bin/python bench/peers/redis_saq.py --redis-url redis://127.0.0.1:PORT/0

Configuration: ``saq.Queue.from_url(url)`` (a ``RedisQueue``, JSON, the job hash kept until
its TTL) and ``saq.Worker(queue, functions=[noop, mark], concurrency=N)`` with saq's other
defaults (upkeep timers: schedule every 1 s, worker info every 10 s, sweep every 60 s,
abort checks every 1 s).  The jobs are coroutines taking a keyword ``i``.  ``concurrency=10``
is saq's default.  Each of the N process tasks dequeues with ``BLMOVE`` (queued -> active),
so an idle worker answers at once and the queue is FIFO.  Enqueue is ``Queue.enqueue``, one
Lua script per job; no bulk enqueue (``Queue.map`` enqueues one by one and waits for the
results).  The worker runs as saq's ``start()`` does: ``queue.connect()`` (before the gate)
then ``worker.start()``, which stops on SIGINT.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from redis_common import Peer, gate, main, mark_now
from saq import Queue, Worker


async def noop(ctx: dict[str, Any], *, i: int) -> None:
    pass


async def mark(ctx: dict[str, Any], *, i: int) -> None:
    mark_now(i)


def consumer(setting: str, url: str) -> None:
    concurrency = int(setting.removeprefix("concurrency="))
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    queue = Queue.from_url(url)
    loop.run_until_complete(queue.connect())
    loop.run_until_complete(queue.version())  # one round trip: connected before the gate
    worker = Worker(queue, functions=[noop, mark], concurrency=concurrency)
    if gate():
        loop.run_until_complete(worker.start())
    loop.run_until_complete(queue.disconnect())


def make_peer(url: str) -> Peer:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    queue = Queue.from_url(url)
    run = loop.run_until_complete
    run(queue.connect())

    async def enqueue_all(n: int) -> float:
        enqueue = queue.enqueue
        t0 = time.monotonic()
        for i in range(n - 1):
            await enqueue("noop", i=i)
        await enqueue("mark", i=n - 1)
        return time.monotonic() - t0

    return Peer(
        name="saq",
        dist="saq",
        settings=("concurrency=10", "concurrency=50"),
        default_setting="concurrency=10",
        describe={
            "concurrency=10": "concurrency=10 (saq's default)",
            "concurrency=50": "concurrency=50",
        },
        enqueue_one=lambda n: run(enqueue_all(n)),
        enqueue_mark=lambda s: run(queue.enqueue("mark", i=s)),
        pending=lambda: run(queue.count("queued")),
        notes={
            "queue": "saq RedisQueue defaults: JSON, BLMOVE dequeue, one Lua script per enqueue",
            "enqueue_many": "no bulk enqueue API in saq (Queue.map enqueues one by one and "
            "waits for the results)",
        },
    )


if __name__ == "__main__":
    sys.exit(main(make_peer, consumer, __file__))
