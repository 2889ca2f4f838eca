"""pgqueuer peer of ``bench/postgres.py``; method in ``pg_common.py``.

Run with the pgqueuer venv's python (``setup_env.sh pgqueuer``), on an empty database::

    bench/.venvs/pgqueuer/bin/python bench/peers/pg_pgqueuer.py \\
        --dsn postgresql://postgres@127.0.0.1:PORT/pgqueuer

Schema: ``python -m pgqueuer --pg-dsn DSN install`` (pgqueuer's own CLI, its default
``--durability durable``: every table logged, so an enqueue is on disk when it returns with
the server's ``synchronous_commit=on``).  Driver: asyncpg, the first one pgqueuer's CLI
tries, for the producer (``Queries(AsyncpgDriver(conn))``) and the worker
(``PgQueuer.from_asyncpg_connection``).  The jobs are coroutines (pgqueuer runs each job as
an asyncio task on the worker's loop) taking the int as the job's ``payload`` bytes.

Enqueue one: ``Queries.enqueue("noop", payload)``, one INSERT statement (autocommit) per job.
Enqueue many: ``Queries.enqueue([...], [...], [...])``, one INSERT ... UNNEST statement.

Worker: ``PgQueuer.run(batch_size=N)`` with pgqueuer's other defaults (no cap on concurrent
tasks, dequeue_timeout 30 s, heartbeats every 15 s, the scheduler manager beside the queue
manager), as ``pgq run --batch-size N`` runs it.  ``batch_size=10`` is pgqueuer's default;
each dequeue statement takes up to N queued jobs (``FOR UPDATE SKIP LOCKED``, priority then
id) and marks them picked; finished jobs are logged in batches of up to N.  An idle worker
waits on LISTEN/NOTIFY (the enqueue statement notifies).  Stopped by setting its
``shutdown`` event (what its signal handlers do).
"""

from __future__ import annotations

import asyncio
import sys
import time

import asyncpg
from pg_common import Peer, gate, main, mark_now, run_tool
from pgqueuer import PgQueuer
from pgqueuer.db import AsyncpgDriver
from pgqueuer.models import Job
from pgqueuer.queries import Queries

DEFAULT = "batch_size=10"
BEST = "batch_size=100"


def install(dsn: str) -> None:
    run_tool([sys.executable, "-m", "pgqueuer", "--pg-dsn", dsn, "install"])


def consumer(setting: str, dsn: str) -> None:
    batch_size = int(setting.removeprefix("batch_size="))

    async def serve() -> None:
        connection = await asyncpg.connect(dsn)
        pgq = PgQueuer.from_asyncpg_connection(connection)

        @pgq.entrypoint("noop")
        async def noop(job: Job) -> None:
            pass

        @pgq.entrypoint("mark")
        async def mark(job: Job) -> None:
            mark_now(int(job.payload or b"0"))

        await connection.fetchval("SELECT 1")  # connected before the gate
        loop = asyncio.get_running_loop()
        if gate(on_eof=lambda: loop.call_soon_threadsafe(pgq.shutdown.set)):
            await pgq.run(batch_size=batch_size)
        if not connection.is_closed():
            await connection.close()

    asyncio.run(serve())


def make_peer(dsn: str) -> Peer:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    run = loop.run_until_complete
    connection = run(asyncpg.connect(dsn))
    queries = Queries(AsyncpgDriver(connection))

    async def enqueue_all(n: int) -> float:
        enqueue = queries.enqueue
        t0 = time.monotonic()
        for i in range(n - 1):
            await enqueue("noop", str(i).encode())
        await enqueue("mark", str(n - 1).encode())
        return time.monotonic() - t0

    async def enqueue_many(n: int) -> float:
        t0 = time.monotonic()
        await queries.enqueue(["noop"] * n, [str(i).encode() for i in range(n)], [0] * n)
        return time.monotonic() - t0

    return Peer(
        name="pgqueuer",
        dist="pgqueuer",
        settings=(DEFAULT, BEST),
        default_setting=DEFAULT,
        describe={
            DEFAULT: "batch_size=10 (pgqueuer's default)",
            BEST: "batch_size=100",
        },
        enqueue_one=lambda n: run(enqueue_all(n)),
        enqueue_mark=lambda s: run(queries.enqueue("mark", str(s).encode())),
        enqueue_many=lambda n: run(enqueue_many(n)),
        close=lambda: run(connection.close()),
        pending_sql="SELECT count(*) FROM pgqueuer WHERE status = 'queued'",
        reset_sql="TRUNCATE pgqueuer, pgqueuer_log, pgqueuer_statistics RESTART IDENTITY",
        notes={
            "driver": f"asyncpg {asyncpg.__version__}",
            "schema": "pgqueuer install (durability=durable: logged tables)",
            "jobs": "coroutines, each an asyncio task on the worker's loop",
        },
    )


if __name__ == "__main__":
    sys.exit(main(make_peer, install, consumer, __file__))
