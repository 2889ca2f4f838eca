"""The async producer methods on PostgreSQL, awaited through psycopg's
AsyncConnection: no thread on the common path, the sync path's results and
errors, a connection per event loop closed with it, ``await_result`` woken by
NOTIFY rather than polling, a cancelled enqueue recognised when retried."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import psycopg
import pytest

import tests.jobs.sample  # noqa: F401  # the @job functions
from joblane import DuplicateJobError, Job, JobStatus, Queue, WaitTimeoutError, WorkerThread
from joblane.aclient import async_ops
from joblane.backends.postgres import PostgresBackend, parse_url
from tests.servers import shared_postgres
from tests.worker.conftest import wait_until

T = TypeVar("T")


class NoThreads(ThreadPoolExecutor):
    """A default executor that refuses work: a call that needs a thread fails."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        raise AssertionError(f"{fn!r} was sent to a thread")


def run(coro: Awaitable[T], *, threads: bool = True) -> T:
    async def main() -> T:
        if not threads:
            asyncio.get_running_loop().set_default_executor(NoThreads())
        return await coro

    return asyncio.run(main())


def sessions(backend: PostgresBackend) -> int:
    """Open sessions of *backend* (its application_name) on the server."""
    with psycopg.connect(shared_postgres().dsn(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            (backend._origin,),
        ).fetchone()
    return int(row[0]) if row else 0


def test_the_common_path_is_awaited_on_the_loop(pg: PostgresBackend) -> None:
    assert async_ops(pg) is pg
    queue = Queue("normal", backend=pg)

    async def main() -> list[Job]:
        one = await queue.aenqueue("tests.jobs.sample.add", 1, 2, job_id="one")
        many = await queue.aenqueue_many(
            [Queue.prepare_data("tests.jobs.sample.add", (i, i)) for i in range(3)]
        )
        fetched = await Job.afetch("one", backend=pg)
        await fetched.arefresh()
        return [one, *many, fetched]

    jobs = run(main(), threads=False)
    assert [j.status for j in jobs] == [JobStatus.QUEUED] * 5
    assert queue.count == 4


def test_refusals_and_dependencies_match_the_sync_path(pg: PostgresBackend) -> None:
    queue = Queue("normal", backend=pg)
    first = queue.enqueue("tests.jobs.sample.noop", job_id="taken")

    async def main() -> Job:
        with pytest.raises(DuplicateJobError):
            await queue.aenqueue("tests.jobs.sample.noop", job_id="taken")
        return await queue.aenqueue("tests.jobs.sample.noop", depends_on=first.id)

    assert run(main()).status is JobStatus.DEFERRED


def test_a_cancelled_enqueue_is_recognised_when_retried(pg: PostgresBackend) -> None:
    queue = Queue("normal", backend=pg)

    async def main() -> Job:
        task = asyncio.create_task(queue.aenqueue("tests.jobs.sample.noop", job_id="maybe"))
        await asyncio.sleep(0)  # sent, or about to be
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return await queue.aenqueue("tests.jobs.sample.noop", job_id="maybe")

    assert run(main()).id == "maybe"
    assert [j.id for j in queue.get_jobs()] == ["maybe"]


def test_each_loop_s_connections_are_closed_with_it(pg: PostgresBackend) -> None:
    before = sessions(pg)
    for _ in range(3):
        assert run(pg.aget("nothing"), threads=False) is None
        run(pg.await_end("nothing", 0), threads=False)
    wait_until(lambda: sessions(pg) == before, 5, "the loops' sessions closed")

    results: list[object] = []

    def in_thread() -> None:
        results.append(run(pg.aget("nothing"), threads=False))

    threads = [threading.Thread(target=in_thread) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == [None, None]


def test_await_result_is_woken_by_notify(pg: PostgresBackend) -> None:
    queue = Queue("normal", backend=pg)
    queued = queue.enqueue("tests.jobs.sample.noop")
    with pytest.raises(WaitTimeoutError, match=r"still queued after 1 s"):
        run(queued.await_result(timeout=1), threads=False)

    async def cancel_later() -> Job:
        waiting = asyncio.create_task(queued.await_result(timeout=30))
        await asyncio.sleep(0.2)
        await asyncio.to_thread(pg.cancel, queued.id, pg.now())
        return await waiting

    assert run(cancel_later()).status is JobStatus.CANCELED


def test_await_result_of_many_jobs_with_a_worker(pg: PostgresBackend) -> None:
    queue = Queue("normal", backend=pg)
    worker = WorkerThread(pg, ["normal"], concurrency=2).start()

    async def main() -> list[Any]:
        jobs = [await queue.aenqueue("tests.jobs.sample.add", i, 1) for i in range(20)]
        ended = await asyncio.gather(*(job.await_result(timeout=30) for job in jobs))
        return [job.return_value for job in ended]

    try:
        assert run(main(), threads=False) == [i + 1 for i in range(20)]
    finally:
        worker.stop(timeout=10)


def test_a_terminated_session_is_replaced(pg: PostgresBackend, pg_url: str) -> None:
    queue = Queue("normal", backend=pg)

    async def main() -> Job:
        await queue.aenqueue("tests.jobs.sample.noop")
        conninfo, _ = parse_url(pg_url)
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as admin:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s",
                (pg._origin,),
            )
        return await queue.aenqueue("tests.jobs.sample.noop")

    assert run(main()).status is JobStatus.QUEUED
    assert queue.count == 2
