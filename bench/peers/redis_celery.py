"""Celery peer of ``bench/redis.py``; method in ``redis_common.py``.

Run with the Celery venv's python (``setup_env.sh celery``)::

    bench/.venvs/celery/bin/python bench/peers/redis_celery.py \
        --redis-url redis://127.0.0.1:PORT/0

Configuration: ``Celery("bench", broker=url)``: the Redis broker (kombu), no result backend,
Celery's defaults otherwise (JSON, early ack, prefetch multiplier 4, mingle, gossip and
heartbeats on).  Tasks ``noop`` and ``mark`` take one int.  The worker is ``app.Worker(...)``
in this process, as ``celery worker`` runs it, with ``loglevel=WARNING``.  Settings:
``prefork:N`` (Celery's default pool; N defaults to the CPU count, 2 here), ``solo`` (jobs run
in the worker process), ``threads:N``.  The queue is one Redis list (``LPUSH`` / ``BRPOP``):
FIFO, and an idle worker answers at once.

Gate: a Celery worker's start-up includes a one-second ``mingle`` exchange with other
workers, so the gate is the ``worker_ready`` signal, sent when the pool is up and the
consumer is registered, just before the event loop starts; the parent's ``go`` lets the
signal handler return.  Enqueue is ``task.delay``, one ``LPUSH`` per task; no bulk enqueue
(a ``group`` publishes its tasks one by one and needs a result backend).
Stop: SIGTERM (warm shutdown).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any

from celery import Celery
from celery.signals import worker_ready
from redis_common import Peer, gate, main, mark_now


@dataclass(frozen=True)
class App:
    celery: Celery
    noop: Any  # celery Task
    mark: Any  # celery Task


def build(url: str) -> App:
    app = Celery("bench", broker=url, set_as_current=True)

    def noop(i: int) -> None:
        pass

    def mark(i: int) -> None:
        mark_now(i)

    return App(app, app.task(name="noop")(noop), app.task(name="mark")(mark))


def pool_options(setting: str) -> dict[str, Any]:
    pool, _, n = setting.partition(":")
    return {"pool": pool, "concurrency": int(n) if n else None}


def consumer(setting: str, url: str) -> None:
    app = build(url)

    def on_ready(**_: Any) -> None:
        if not gate(on_eof=lambda: os.kill(os.getpid(), signal.SIGTERM)):
            os.kill(os.getpid(), signal.SIGTERM)

    worker_ready.connect(on_ready, weak=False)
    worker = app.celery.Worker(loglevel="WARNING", quiet=True, **pool_options(setting))
    worker.start()


def make_peer(url: str) -> Peer:
    app = build(url)
    client = app.celery.connection_for_write()

    def enqueue_one(n: int) -> float:
        noop, mark = app.noop.delay, app.mark.delay
        t0 = time.monotonic()
        for i in range(n - 1):
            noop(i)
        mark(n - 1)
        return time.monotonic() - t0

    def pending() -> int:
        with client.channel() as channel:
            return int(channel.client.llen("celery"))

    return Peer(
        name="celery",
        dist="celery",
        settings=("prefork:2", "solo"),
        default_setting="prefork:2",
        describe={
            "prefork:2": "prefork pool, 2 processes (Celery's default: the CPU count)",
            "prefork:1": "prefork pool, 1 process",
            "solo": "solo pool (jobs run in the worker process)",
            "threads:4": "threads pool, 4 threads",
        },
        enqueue_one=enqueue_one,
        enqueue_mark=lambda s: app.mark.delay(s),
        pending=pending,
        notes={
            "broker": "Redis broker (kombu) defaults, no result backend, JSON, early ack, "
            "prefetch multiplier 4",
            "gate": "worker_ready signal (after pool start, mingle and consumer set-up)",
            "enqueue_many": "no bulk enqueue API in Celery (group publishes one by one)",
        },
    )


if __name__ == "__main__":
    sys.exit(main(make_peer, consumer, __file__))
