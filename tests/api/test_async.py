"""The async producer methods on every backend: they store what the plain ones
store, never block the event loop, keep to the caller's transaction, and
await_result times out and cancels cleanly; the module-level enqueue."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from unittest import mock

import pytest

import joblane
from joblane import (
    InvalidFunctionError,
    InvalidJobError,
    Job,
    JobStatus,
    NoSuchJobError,
    Queue,
    WaitTimeoutError,
    WorkerThread,
    atomic,
    job,
    shortcuts,
    tasks,
)
from joblane.aclient import async_ops
from joblane.backends.base import Backend
from joblane.backends.memory import MemoryBackend
from joblane.backends.postgres import from_url as postgres_from_url
from joblane.backends.redis import from_url as redis_from_url
from joblane.backends.sqlite import SQLiteBackend
from joblane.pending import PendingJobs, add_provider, remove_provider
from tests.servers import postgres_url_for, redis_url_for

T = TypeVar("T")


@job
def echo(*args: Any, **kwargs: Any) -> None:
    """Shares its short name with tests.jobs.sample.echo."""


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


@pytest.fixture(params=["memory", "sqlite", "redis", "postgres"])
def any_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    opened: Backend
    if request.param == "memory":
        opened = MemoryBackend()
    elif request.param == "sqlite":
        opened = SQLiteBackend(tmp_path / "jobs.db")
    elif request.param == "postgres":
        opened = postgres_from_url(postgres_url_for(tmp_path))
    else:
        opened = redis_from_url(redis_url_for(tmp_path))
    yield opened
    opened.close()


def test_each_async_method_stores_what_the_plain_one_does(any_backend: Backend) -> None:
    queue = Queue("normal", backend=any_backend)
    later = datetime.now(UTC) + timedelta(hours=1)

    async def main() -> list[Job]:
        return [
            await queue.aenqueue("tests.jobs.sample.add", 1, b=2, job_id="one"),
            await queue.aenqueue_call("tests.jobs.sample.add", (3, 4), job_id="two"),
            await queue.aenqueue_at(later, "tests.jobs.sample.noop", job_id="three"),
            await queue.aenqueue_in(timedelta(hours=1), "tests.jobs.sample.noop"),
            *await queue.aenqueue_many(
                [Queue.prepare_data("tests.jobs.sample.add", (5, 6), job_id="four")]
            ),
            *await queue.astore([queue.build("tests.jobs.sample.noop", job_id="five")]),
        ]

    jobs = run(main())
    assert [j.id for j in jobs[:3]] == ["one", "two", "three"]
    assert [j.status for j in jobs] == [JobStatus.QUEUED, JobStatus.QUEUED,
                                        JobStatus.SCHEDULED, JobStatus.SCHEDULED,
                                        JobStatus.QUEUED, JobStatus.QUEUED]  # fmt: skip
    assert Job.fetch("one", backend=any_backend).args == [1]
    assert Job.fetch("one", backend=any_backend).kwargs == {"b": 2}
    assert queue.count == 4
    fetched = run(Job.afetch("two", backend=any_backend))
    assert fetched.args == [3, 4]
    any_backend.cancel("two", any_backend.now())
    assert run(fetched.arefresh()).status is JobStatus.CANCELED
    with pytest.raises(NoSuchJobError):
        run(Job.afetch("nope", backend=any_backend))
    assert run(queue.aenqueue_many([])) == [] and run(queue.astore([])) == []


def test_bad_input_raises_in_the_caller_before_any_write() -> None:
    queue = Queue("normal", backend=MemoryBackend())
    with pytest.raises(InvalidFunctionError):
        run(queue.aenqueue("no-dots"))
    with pytest.raises(InvalidJobError, match="timedelta"):
        run(queue.aenqueue_in(5, "tests.jobs.sample.noop"))  # type: ignore[arg-type]
    with pytest.raises(InvalidJobError, match="whole batch"):
        run(queue.aenqueue_many([Queue.prepare_data("tests.jobs.sample.noop", unique=True)]))
    assert queue.count == 0


def test_the_event_loop_keeps_running_while_a_store_waits_on_a_lock(tmp_path: Path) -> None:
    backend = SQLiteBackend(tmp_path / "jobs.db")
    queue = Queue("normal", backend=backend)
    holder = sqlite3.connect(tmp_path / "jobs.db", isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the database
    threading.Timer(0.5, holder.rollback).start()

    async def main() -> tuple[int, Job]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        stored = await queue.aenqueue("tests.jobs.sample.noop")
        task.cancel()
        return ticks, stored

    started = time.monotonic()
    ticks, stored = run(main())
    assert time.monotonic() - started >= 0.4  # the store did wait for the lock
    assert ticks >= 10  # and the loop ran meanwhile (a blocked loop ticks at most once)
    assert Job.fetch(stored.id, backend=backend).status is JobStatus.QUEUED
    holder.close()
    backend.close()


def test_atomic_in_async_code_stores_at_the_commit(tmp_path: Path) -> None:
    backend = SQLiteBackend(tmp_path / "jobs.db")
    queue = Queue("normal", backend=backend)

    async def main() -> tuple[Job, Job]:
        with atomic():
            kept = await queue.aenqueue("tests.jobs.sample.noop")
            assert backend.get(kept.id) is None  # buffered, not stored
        try:
            with atomic():
                dropped = await queue.aenqueue("tests.jobs.sample.noop")
                raise RuntimeError("roll back")
        except RuntimeError:
            pass
        return kept, dropped

    kept, dropped = run(main())
    assert backend.get(kept.id) is not None
    assert backend.get(dropped.id) is None
    backend.close()


def test_the_transaction_is_looked_up_in_the_callers_thread() -> None:
    """An adapter's transaction may be thread-local (Django's is): the async
    path must ask for it where the caller runs, not on the worker thread."""
    backend = MemoryBackend()
    queue = Queue("normal", backend=backend)
    local = threading.local()
    buffer = PendingJobs()

    def provider() -> PendingJobs | None:
        return getattr(local, "buffer", None)

    add_provider(provider)
    local.buffer = buffer
    try:
        stored = run(queue.aenqueue("tests.jobs.sample.noop"))
    finally:
        remove_provider(provider)
        del local.buffer
    assert [r.id for _, r, _ in buffer.entries] == [stored.id]
    assert backend.get(stored.id) is None
    buffer.rollback()


def test_await_result_returns_the_ended_job(any_backend: Backend) -> None:
    queue = Queue("normal", backend=any_backend)
    worker = WorkerThread(any_backend, ["normal"], concurrency=1).start()
    try:
        queued = queue.enqueue("tests.jobs.sample.add", 2, 3)
        ended = run(queued.await_result(timeout=10))
    finally:
        worker.stop(timeout=10)
    assert ended.status is JobStatus.FINISHED and ended.return_value == 5


def test_await_result_times_out(tmp_path: Path) -> None:
    queued = Queue("normal", backend=SQLiteBackend(tmp_path / "j.db")).enqueue(
        "tests.jobs.sample.noop"
    )
    started = time.monotonic()
    with pytest.raises(WaitTimeoutError, match=r"still queued after 0\.3 s"):
        run(queued.await_result(timeout=0.3))
    assert 0.3 <= time.monotonic() - started < 2
    with pytest.raises(InvalidJobError):
        run(queued.await_result(timeout=float("inf")))


def test_cancelling_await_result_leaves_no_thread_waiting(tmp_path: Path) -> None:
    queued = Queue("normal", backend=SQLiteBackend(tmp_path / "j.db")).enqueue(
        "tests.jobs.sample.noop"
    )

    async def main() -> float:
        task = asyncio.create_task(queued.await_result())
        await asyncio.sleep(0.2)
        task.cancel()
        cancelled_at = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - cancelled_at

    started = time.monotonic()
    assert run(main()) < 0.1  # the await returns at once
    # asyncio.run joins the default executor: its thread's wait is bounded.
    assert time.monotonic() - started < 2.5


@pytest.fixture
def configured() -> Iterator[Callable[..., Queue]]:
    before = shortcuts._queue
    yield joblane.configure
    shortcuts._queue = before


def test_module_level_enqueue_on_the_configured_queue(
    configured: Callable[..., Queue], tmp_path: Path
) -> None:
    queue = configured(f"sqlite:///{tmp_path / 'app.db'}", queue="mail")
    first = joblane.enqueue("add", 1, 2)  # the one @job function named add
    second = run(joblane.aenqueue("tests.jobs.sample.noop"))
    assert first.func_name == "tests.jobs.sample.add" and first.queue == "mail"
    assert [j.id for j in queue.get_jobs()] == [first.id, second.id]


def test_a_short_name_must_name_exactly_one_job_function(
    configured: Callable[..., Queue],
) -> None:
    configured("memory://")
    with pytest.raises(
        InvalidFunctionError, match=r"tests.api.test_async.echo, tests.jobs.sample.echo"
    ):
        joblane.enqueue("echo")
    assert shortcuts.default_queue().count == 0
    # No task names in this process: it cannot know the worker's, so it stores the name.
    with mock.patch.dict(tasks._TASKS, clear=True):
        stored = run(joblane.aenqueue("not_marked"))
    assert stored.func_name == "not_marked"


def test_async_ops_read_what_the_sync_calls_read(any_backend: Backend) -> None:
    """Natively (Redis) or on a thread (memory, SQLite): the same records."""
    queue = Queue("normal", backend=any_backend)
    stored = queue.enqueue("tests.jobs.sample.add", 1, 2, job_id="here")
    ops = async_ops(any_backend)

    async def main() -> tuple[Any, ...]:
        return (
            await ops.aget("here"),
            await ops.aget("gone"),
            await ops.aget_many(["gone", "here"]),
            await ops.await_end("here", 0),
        )

    one, missing, many, now = run(main())
    assert one == stored.record == many[1] == now and missing is None and many[0] is None
