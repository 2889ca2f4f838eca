"""Dramatiq peer of ``bench/redis.py``; method in ``redis_common.py``.

Run with the Dramatiq venv's python (``setup_env.sh dramatiq``)::

    bench/.venvs/dramatiq/bin/python bench/peers/redis_dramatiq.py \
        --redis-url redis://127.0.0.1:PORT/0

Configuration: ``RedisBroker(url=url)`` with Dramatiq's default middleware (AgeLimit,
TimeLimit, ShutdownNotifications, Callbacks, Pipelines, Retries) and JSON messages; actors
``noop`` and ``mark`` on the ``default`` queue.  The worker is ``dramatiq.Worker(broker,
worker_threads=N)`` in this process: what ``dramatiq --processes 1 --threads N`` runs in its
one worker process (the CLI adds a supervising parent).  ``threads=8`` is Dramatiq's default.
The consumer thread fetches up to ``2 * threads`` messages per Lua call (``LPOP`` from the
queue list: FIFO); when the queue is empty it sleeps 5 ms, doubling with each empty fetch
(with jitter) up to ``worker_timeout`` (1 s).  Enqueue is ``actor.send``, one Lua script per
message; no bulk enqueue.  Stop: ``worker.stop()`` when stdin closes.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from redis_common import Peer, gate, main, mark_now


@dataclass(frozen=True)
class App:
    broker: RedisBroker
    noop: Any  # dramatiq.Actor
    mark: Any  # dramatiq.Actor


def build(url: str) -> App:
    broker = RedisBroker(url=url)
    dramatiq.set_broker(broker)

    def noop(i: int) -> None:
        pass

    def mark(i: int) -> None:
        mark_now(i)

    return App(broker, dramatiq.actor(noop, broker=broker), dramatiq.actor(mark, broker=broker))


def consumer(setting: str, url: str) -> None:
    threads = int(setting.removeprefix("threads="))
    app = build(url)
    app.broker.client.ping()  # connect before the gate
    worker = dramatiq.Worker(app.broker, worker_threads=threads)
    stop = threading.Event()
    if gate(on_eof=stop.set):
        worker.start()
        stop.wait()
        worker.stop()
    app.broker.close()


def make_peer(url: str) -> Peer:
    app = build(url)

    def enqueue_one(n: int) -> float:
        noop, mark = app.noop.send, app.mark.send
        t0 = time.monotonic()
        for i in range(n - 1):
            noop(i)
        mark(n - 1)
        return time.monotonic() - t0

    return Peer(
        name="dramatiq",
        dist="dramatiq",
        settings=("threads=8", "threads=64"),
        default_setting="threads=8",
        describe={
            "threads=8": "1 process, 8 threads (Dramatiq's default)",
            "threads=1": "1 process, 1 thread",
            "threads=64": "1 process, 64 threads",
        },
        enqueue_one=enqueue_one,
        enqueue_mark=lambda s: app.mark.send(s),
        pending=lambda: int(app.broker.client.llen("dramatiq:default")),
        notes={
            "broker": "RedisBroker defaults, default middleware, JSON; consumer prefetch "
            "2 x threads; idle back-off from 5 ms up to 1 s",
            "enqueue_many": "no bulk enqueue API in Dramatiq (group/pipeline send one by one)",
        },
    )


if __name__ == "__main__":
    sys.exit(main(make_peer, consumer, __file__))
