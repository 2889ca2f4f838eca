"""RQ peer of ``bench/redis.py``; method in ``redis_common.py``.

Run with the RQ venv's python (``setup_env.sh rq``)::

    bench/.venvs/rq/bin/python bench/peers/redis_rq.py --redis-url redis://127.0.0.1:PORT/0

Configuration: ``rq.Queue("default", connection=Redis.from_url(url))`` with RQ's defaults
(pickle, results kept 500 s, a no-op's ``None`` result included).  The job functions live
in this script and are enqueued by name (``redis_rq.noop``): RQ refuses functions of
``__main__``; the worker imports this script as ``redis_rq`` to run them.  Settings:
``worker=fork`` is RQ's default ``Worker``, which forks a work horse for every job;
``worker=simple`` is ``SimpleWorker``, which runs the job in the worker process.  Both call
``work(logging_level="WARNING")``, no scheduler (RQ's default), dequeue by ``BLPOP`` (an
idle worker answers at once).  RQ's queue is a Redis list
(``RPUSH`` / ``BLPOP``): FIFO.  Bulk: ``Queue.enqueue_many`` with ``Queue.prepare_data``
(one pipeline).  Stop: SIGINT (warm shutdown).
"""

from __future__ import annotations

import sys
import time

from redis import Redis
from redis_common import Peer, gate, main, mark_now
from rq import Queue, SimpleWorker, Worker

WORKERS = {"worker=fork": Worker, "worker=simple": SimpleWorker}
NOOP, MARK = "redis_rq.noop", "redis_rq.mark"  # RQ refuses functions of __main__


def noop(i: int) -> None:
    pass


def mark(i: int) -> None:
    mark_now(i)


def consumer(setting: str, url: str) -> None:
    connection = Redis.from_url(url)
    connection.ping()  # connect before the gate
    worker = WORKERS[setting]([Queue("default", connection=connection)], connection=connection)
    if gate():
        worker.work(logging_level="WARNING")


def make_peer(url: str) -> Peer:
    queue = Queue("default", connection=Redis.from_url(url))

    def enqueue_one(n: int) -> float:
        enqueue = queue.enqueue
        t0 = time.monotonic()
        for i in range(n - 1):
            enqueue(NOOP, i)
        enqueue(MARK, n - 1)
        return time.monotonic() - t0

    def enqueue_many(n: int) -> float:
        t0 = time.monotonic()
        queue.enqueue_many([Queue.prepare_data(NOOP, (i,)) for i in range(n)])
        return time.monotonic() - t0

    return Peer(
        name="rq",
        dist="rq",
        settings=("worker=fork", "worker=simple"),
        default_setting="worker=fork",
        describe={
            "worker=fork": "Worker (RQ's default): forks a work horse per job",
            "worker=simple": "SimpleWorker: runs jobs in the worker process",
        },
        enqueue_one=enqueue_one,
        enqueue_many=enqueue_many,
        enqueue_mark=lambda s: queue.enqueue(MARK, s),
        pending=lambda: queue.count,
        notes={
            "queue": "rq.Queue defaults: pickle, results kept 500 s, BLPOP dequeue",
            "enqueue_many": "Queue.enqueue_many(Queue.prepare_data(...) for each job), "
            "one pipeline",
        },
    )


if __name__ == "__main__":
    sys.exit(main(make_peer, consumer, __file__))
