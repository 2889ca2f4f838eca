"""Huey (``RedisHuey``) peer of ``bench/redis.py``; method in ``redis_common.py``.

Run with the Huey venv's python (``setup_env.sh huey``)::

    bench/.venvs/huey/bin/python bench/peers/redis_huey.py --redis-url redis://127.0.0.1:PORT/0

Configuration: ``RedisHuey("bench", url=...)`` with Huey's defaults: pickle serializer,
``results=True`` (a no-op returns ``None`` and ``store_none=False``, so nothing is stored),
blocking dequeue (``BRPOP`` with ``read_timeout=1`` s, so an idle worker answers at once).
The consumer is ``huey.create_consumer(workers=N, worker_type="thread")`` with the rest at
Huey's defaults (periodic tasks on, a health check every 10 s, a scheduler thread waking
every second).  Settings: ``workers=1`` (Huey's default) and more threads.  Huey's queue is
one Redis list (``LPUSH`` / ``BRPOP``): FIFO.  No bulk enqueue (``map``/``group`` call
``enqueue`` per task), so ``enqueue_many_per_s`` is null.  Stop: SIGINT (graceful).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any

from huey import RedisHuey
from redis_common import Peer, gate, main, mark_now


@dataclass(frozen=True)
class App:
    huey: Any  # huey.RedisHuey (untyped library)
    noop: Any  # TaskWrapper
    mark: Any  # TaskWrapper


def build(url: str) -> App:
    """The Huey instance and its two tasks (same names, ``__main__.*``, in both processes)."""
    huey = RedisHuey("bench", url=url)

    def noop(i: int) -> None:
        pass

    def mark(i: int) -> None:
        mark_now(i)

    return App(huey=huey, noop=huey.task()(noop), mark=huey.task()(mark))


def consumer(setting: str, url: str) -> None:
    workers = int(setting.removeprefix("workers="))
    app = build(url)
    app.huey.storage.conn.ping()  # connect before the gate
    worker = app.huey.create_consumer(workers=workers, worker_type="thread")
    if gate():
        worker.run()


def make_peer(url: str) -> Peer:
    app = build(url)

    def enqueue_one(n: int) -> float:
        noop, mark = app.noop, app.mark
        t0 = time.monotonic()
        for i in range(n - 1):
            noop(i)
        mark(n - 1)
        return time.monotonic() - t0

    def enqueue_mark(s: int) -> None:
        app.mark(s)

    def pending() -> int:
        return int(app.huey.pending_count())

    return Peer(
        name="huey",
        dist="huey",
        settings=("workers=1", "workers=2", "workers=4"),
        default_setting="workers=1",
        describe={
            "workers=1": "1 thread worker (Huey's default)",
            "workers=2": "2 thread workers",
            "workers=4": "4 thread workers",
        },
        enqueue_one=enqueue_one,
        enqueue_mark=enqueue_mark,
        pending=pending,
        notes={
            "storage": "RedisHuey defaults: pickle, blocking BRPOP dequeue (read_timeout 1 s)",
            "consumer": "thread workers; periodic=True, health check every 10 s (defaults)",
            "enqueue_many": "no bulk enqueue API in Huey (map/group enqueue one by one)",
        },
    )


if __name__ == "__main__":
    sys.exit(main(make_peer, consumer, __file__))
