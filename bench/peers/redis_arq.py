"""arq peer of ``bench/redis.py``; method in ``redis_common.py``.

Run with the arq venv's python (``setup_env.sh arq``)::

    bench/.venvs/arq/bin/python bench/peers/redis_arq.py --redis-url redis://127.0.0.1:PORT/0

Configuration: ``create_pool(RedisSettings.from_dsn(url))`` and ``arq.Worker`` with arq's
defaults (pickle, results kept 3,600 s, ``poll_delay=0.5`` s) but for ``max_jobs``: 10 is
arq's default, more is the best found.  The jobs are coroutines ``noop(ctx, i)`` and
``mark(ctx, i)``.  arq's queue is a sorted set scored by enqueue time in milliseconds, and
jobs with the same score come out in the order of their ids: the jobs get zero-padded ids
(``_job_id``, arq's own option) so that the queue is FIFO and the marker comes out last
(with arq's random ids the jobs of one millisecond come out in random order).  Enqueue is
``ArqRedis.enqueue_job``, one ``WATCH``/``MULTI`` transaction per job; no bulk enqueue.  The
worker polls: it reads up to ``max(5 * max_jobs, 100)`` queued ids at a time, then sleeps
what is left of ``poll_delay`` after each poll, so an idle worker answers in 0 to 0.5 s.
Stop: SIGINT (arq's own handler).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from typing import Any

from arq import Worker, create_pool
from arq.connections import RedisSettings
from arq.constants import default_queue_name, in_progress_key_prefix
from redis_common import Peer, gate, main, mark_now

NOT_STARTED = """
local n = 0
for _, id in ipairs(redis.call('zrange', KEYS[1], 0, -1)) do
    if redis.call('exists', ARGV[1] .. id) == 0 then n = n + 1 end
end
return n
"""


async def noop(ctx: dict[str, Any], i: int) -> None:
    pass


async def mark(ctx: dict[str, Any], i: int) -> None:
    mark_now(i)


def consumer(setting: str, url: str) -> None:
    max_jobs = int(setting.removeprefix("max_jobs="))
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    pool = loop.run_until_complete(create_pool(RedisSettings.from_dsn(url)))  # before the gate
    worker = Worker(functions=[noop, mark], redis_pool=pool, max_jobs=max_jobs)  # type: ignore[list-item]
    if gate():
        # arq cancels its job tasks on SIGINT and lets the CancelledError out of run().
        with contextlib.suppress(asyncio.CancelledError):
            worker.run()


def make_peer(url: str) -> Peer:
    loop = asyncio.new_event_loop()
    pool = loop.run_until_complete(create_pool(RedisSettings.from_dsn(url)))
    run = loop.run_until_complete

    async def enqueue_all(n: int) -> float:
        enqueue = pool.enqueue_job
        t0 = time.monotonic()
        for i in range(n - 1):
            await enqueue("noop", i, _job_id=f"{i:09d}")
        await enqueue("mark", n - 1, _job_id=f"{n - 1:09d}")
        return time.monotonic() - t0

    def enqueue_mark(s: int) -> None:
        run(pool.enqueue_job("mark", s, _job_id=f"latency-{s:06d}"))

    async def not_started() -> int:
        """Queued jobs that no worker has taken (arq leaves a job in the queue until it ends);
        one script, so that a job ending meanwhile is not miscounted."""
        return int(await pool.eval(NOT_STARTED, 1, default_queue_name, in_progress_key_prefix))

    return Peer(
        name="arq",
        dist="arq",
        settings=("max_jobs=10", "max_jobs=200"),
        default_setting="max_jobs=10",
        describe={
            "max_jobs=10": "max_jobs=10 (arq's default)",
            "max_jobs=100": "max_jobs=100",
            "max_jobs=200": "max_jobs=200",
        },
        enqueue_one=lambda n: run(enqueue_all(n)),
        enqueue_mark=enqueue_mark,
        pending=lambda: run(not_started()),
        notes={
            "queue": "arq defaults: pickle, results kept 3,600 s, poll_delay 0.5 s; "
            "zero-padded _job_id so that jobs of one millisecond keep their order",
            "enqueue_many": "no bulk enqueue API in arq",
        },
    )


if __name__ == "__main__":
    sys.exit(main(make_peer, consumer, __file__))
