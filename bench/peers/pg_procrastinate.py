"""procrastinate peer of ``bench/postgres.py``; method in ``pg_common.py``.

Run with the procrastinate venv's python (``setup_env.sh procrastinate``), on an empty
database::

    bench/.venvs/procrastinate/bin/python bench/peers/pg_procrastinate.py \\
        --dsn postgresql://postgres@127.0.0.1:PORT/procrastinate

Schema: ``python -m procrastinate --app pg_procrastinate.app schema --apply``
(procrastinate's own CLI; logged tables, so an enqueue is on disk when it returns with the
server's ``synchronous_commit=on``).  The app: ``App(connector=PsycopgConnector(conninfo=DSN))``
(psycopg 3 and its async pool, procrastinate's defaults otherwise); the tasks are coroutines
``noop(i)`` and ``mark(i)`` registered with ``app.task(name=...)``.

Enqueue one: ``await task.defer_async(i=i)``, one call of the ``procrastinate_defer_jobs_v1``
SQL function per job, from one event loop.  Enqueue many: ``await
task.batch_defer_async(*kwargs)``, one call for the N jobs.

Worker: ``app.run_worker_async(concurrency=N)`` with procrastinate's other defaults (LISTEN/
NOTIFY on, fetch polling every 5 s as a fallback, heartbeats every 10 s, jobs kept after they
finish, its signal handlers installed), as ``procrastinate worker --concurrency N`` runs it.
``concurrency=1`` is procrastinate's default.  Each of the N sub-workers fetches one job per
call of ``procrastinate_fetch_job_v2`` (``FOR UPDATE SKIP LOCKED``, priority then id) and
records its outcome with another function call.  Stopped by SIGINT (its graceful stop).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

from pg_common import Peer, gate, main, mark_now, run_tool
from procrastinate import App, PsycopgConnector
from procrastinate.tasks import Task

DSN_ENV = "BENCH_PG_DSN"
DEFAULT = "concurrency=1"
BEST = "concurrency=10"


async def noop(i: int) -> None:
    pass


async def mark(i: int) -> None:
    mark_now(i)


def build_app(dsn: str) -> tuple[App, Task[..., Any, Any], Task[..., Any, Any]]:
    """The app on *dsn* with its two tasks."""
    built = App(connector=PsycopgConnector(conninfo=dsn))
    return built, built.task(name="noop")(noop), built.task(name="mark")(mark)


app = build_app(os.environ.get(DSN_ENV, ""))[0]
"""For procrastinate's CLI (``--app pg_procrastinate.app``): the DSN comes from BENCH_PG_DSN."""


def install(dsn: str) -> None:
    run_tool(
        [sys.executable, "-m", "procrastinate", "--app", "pg_procrastinate.app",
         "schema", "--apply"],
        env=dict(os.environ, **{DSN_ENV: dsn}),
    )  # fmt: skip


def consumer(setting: str, dsn: str) -> None:
    concurrency = int(setting.removeprefix("concurrency="))
    worker_app = build_app(dsn)[0]

    async def serve() -> None:
        async with worker_app.open_async():
            await worker_app.check_connection_async()  # connected before the gate
            if gate():
                await worker_app.run_worker_async(concurrency=concurrency)

    asyncio.run(serve())


def make_peer(dsn: str) -> Peer:
    from importlib.metadata import version

    producer, noop_task, mark_task = build_app(dsn)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    run = loop.run_until_complete
    run(producer.open_async())
    run(producer.check_connection_async())

    async def enqueue_all(n: int) -> float:
        defer = noop_task.defer_async
        t0 = time.monotonic()
        for i in range(n - 1):
            await defer(i=i)
        await mark_task.defer_async(i=n - 1)
        return time.monotonic() - t0

    async def enqueue_many(n: int) -> float:
        t0 = time.monotonic()
        await noop_task.batch_defer_async(*({"i": i} for i in range(n)))
        return time.monotonic() - t0

    return Peer(
        name="procrastinate",
        dist="procrastinate",
        settings=(DEFAULT, BEST),
        default_setting=DEFAULT,
        describe={
            DEFAULT: "concurrency=1 (procrastinate's default)",
            BEST: f"{BEST.replace('=', ' ')} sub-workers",
        },
        enqueue_one=lambda n: run(enqueue_all(n)),
        enqueue_mark=lambda s: run(mark_task.defer_async(i=s)),
        enqueue_many=lambda n: run(enqueue_many(n)),
        close=lambda: run(producer.close_async()),
        pending_sql="SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo'",
        reset_sql="TRUNCATE procrastinate_jobs, procrastinate_events, "
        "procrastinate_periodic_defers, procrastinate_workers RESTART IDENTITY CASCADE",
        notes={
            "connector": f"PsycopgConnector (psycopg_pool {version('psycopg_pool')})",
            "schema": "procrastinate schema --apply",
            "jobs": "coroutines, run on the worker's loop",
        },
    )


if __name__ == "__main__":
    sys.exit(main(make_peer, install, consumer, __file__))
