"""The async producer methods on a real Redis, awaited through ``redis.asyncio``:
no thread is used, the event loop keeps running while Redis is frozen, the
errors and bounds are the sync path's, each event loop (and each process
after a fork) gets a client of its own, closed with its loop, and
``await_result`` waits on change messages rather than polling.

Each test here runs a ``redis-server`` of its own (tests/servers.py): they
count its connections and commands, and freeze or stop it."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from joblane import (
    BackendError,
    DuplicateJobError,
    EnqueueOutcomeUnknownError,
    Job,
    JobStatus,
    NoSuchJobError,
    Queue,
    WaitTimeoutError,
    WorkerThread,
    atomic,
)
from joblane.aclient import OnThread, async_ops
from joblane.backends.redis import RedisBackend
from joblane.backends.redis import from_url as redis_from_url
from joblane.backends.sqlite import SQLiteBackend
from tests.servers import RedisServer
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


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    started = RedisServer(tmp_path / "redis").start()
    yield started
    started.stop()


@pytest.fixture
def backend(server: RedisServer) -> Iterator[RedisBackend]:
    opened = redis_from_url(server.url())
    yield opened
    opened.close()


def connections(server: RedisServer) -> int:
    """Clients connected to *server*, not counting the one asking."""
    with server.client() as client:
        return len(client.client_list()) - 1


def connected(server: RedisServer, count: int) -> None:
    """Wait until *server* has *count* clients (it sees a close a moment later)."""
    wait_until(lambda: connections(server) == count, 5, f"{count} connections")


def calls(server: RedisServer, command: str) -> int:
    with server.client() as client:
        stats = client.info("commandstats").get(f"cmdstat_{command}", {})
        return int(stats.get("calls", 0))


def test_redis_is_awaited_natively_and_sqlite_on_a_thread(
    backend: RedisBackend, tmp_path: Path
) -> None:
    assert async_ops(backend) is backend
    sqlite = SQLiteBackend(tmp_path / "j.db")
    assert isinstance(async_ops(sqlite), OnThread)
    queue = Queue("normal", backend=backend)

    async def main() -> list[Job]:
        one = await queue.aenqueue("tests.jobs.sample.add", 1, 2, job_id="one")
        many = await queue.aenqueue_many(
            [Queue.prepare_data("tests.jobs.sample.add", (i, i)) for i in range(3)]
        )
        fetched = await Job.afetch("one", backend=backend)
        await fetched.arefresh()
        return [one, *many, fetched]

    jobs = run(main(), threads=False)  # no thread used anywhere on the way
    assert [j.status for j in jobs] == [JobStatus.QUEUED] * 5
    assert queue.count == 4
    with pytest.raises(AssertionError, match="sent to a thread"):
        run(Queue("normal", backend=sqlite).aenqueue("tests.jobs.sample.noop"), threads=False)
    sqlite.close()


def test_reads_and_refusals_match_the_sync_path(backend: RedisBackend) -> None:
    queue = Queue("normal", backend=backend)
    first = queue.enqueue("tests.jobs.sample.noop", job_id="taken")

    async def main() -> None:
        assert [r and r.id for r in await backend.aget_many(["taken", "nope"])] == ["taken", None]
        assert await backend.aget_many([]) == []
        assert await backend.aget("nope") is None
        with pytest.raises(DuplicateJobError, match="taken"):
            await queue.aenqueue("tests.jobs.sample.noop", job_id="taken")
        with pytest.raises(NoSuchJobError, match="missing-parent"):
            await queue.aenqueue("tests.jobs.sample.noop", depends_on="missing-parent")
        with pytest.raises(DuplicateJobError):  # all or nothing: "fresh" is not stored
            await queue.aenqueue_many(
                [
                    Queue.prepare_data("tests.jobs.sample.noop", job_id="fresh"),
                    Queue.prepare_data("tests.jobs.sample.noop", job_id="taken"),
                ]
            )
        assert await backend.aget("fresh") is None
        # unique=True returns the live job, as the sync path does
        [same] = await queue.aenqueue_many(
            [Queue.prepare_data("tests.jobs.sample.noop", job_id="taken")], unique=True
        )
        assert same.id == "taken" and same.record.created == first.record.created
        child = await queue.aenqueue("tests.jobs.sample.noop", depends_on="taken")
        assert child.status is JobStatus.DEFERRED
        with pytest.raises(NoSuchJobError):
            await Job.afetch("nope", backend=backend)

    run(main(), threads=False)
    assert queue.count == 1


def test_atomic_around_awaits_stores_at_the_commit(backend: RedisBackend) -> None:
    queue = Queue("normal", backend=backend)

    async def main() -> Job:
        with atomic():
            kept = await queue.aenqueue("tests.jobs.sample.noop")
            assert await backend.aget(kept.id) is None  # buffered, not stored
        return kept

    kept = run(main(), threads=False)
    assert backend.get(kept.id) is not None


def test_the_loop_keeps_running_while_redis_is_frozen(
    server: RedisServer,
) -> None:
    """SIGSTOP: Redis accepts connections and answers nothing. The enqueue ends
    with the sync path's error within retry_for, the loop ticking meanwhile;
    retried once Redis is back, the job is recognised, not stored twice."""
    backend = redis_from_url(server.url(retry_for="1", socket_timeout="0.5"))
    queue = Queue("normal", backend=backend)
    run(queue.aenqueue("tests.jobs.sample.noop"))  # this loop's client is connected

    async def main() -> tuple[int, BaseException, BaseException]:
        ticks = 0

        async def heartbeat() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        beat = asyncio.create_task(heartbeat())
        await queue.aenqueue("tests.jobs.sample.noop")  # connected before the freeze
        assert server.process is not None
        server.process.send_signal(signal.SIGSTOP)
        try:
            with pytest.raises(EnqueueOutcomeUnknownError) as lost:
                await queue.aenqueue("tests.jobs.sample.add", 1, 2, job_id="lost")
            with pytest.raises(BackendError) as unread:
                await backend.aget("lost")
        finally:
            server.process.send_signal(signal.SIGCONT)
        # The same loop's client carries on once Redis is back.
        assert (await queue.aenqueue("tests.jobs.sample.noop", job_id="after")).id == "after"
        beat.cancel()
        return ticks, lost.value, unread.value

    started = time.monotonic()
    ticks, lost, unread = run(main(), threads=False)
    assert time.monotonic() - started < 1 + 1 + 3  # two calls, each bounded by retry_for
    assert ticks >= 50  # a loop blocked for each wait would tick a handful of times
    assert isinstance(lost, EnqueueOutcomeUnknownError) and lost.job_ids == ["lost"]
    assert "did not answer for 1 s" in str(unread)

    async def retry() -> Job:
        return await queue.aenqueue("tests.jobs.sample.add", 1, 2, job_id="lost")

    again = run(retry(), threads=False)  # recognised: no DuplicateJobError
    assert again.id == "lost" and backend.count("normal") == 4
    backend.close()


def test_a_cancelled_enqueue_is_recognised_when_retried(server: RedisServer) -> None:
    backend = redis_from_url(server.url())
    queue = Queue("normal", backend=backend)

    async def main() -> Job:
        await queue.aenqueue("tests.jobs.sample.noop")  # connected
        assert server.process is not None
        server.process.send_signal(signal.SIGSTOP)
        try:
            sent = asyncio.create_task(queue.aenqueue("tests.jobs.sample.add", 1, job_id="c"))
            await asyncio.sleep(0.2)  # the script is in Redis's socket, unanswered
            sent.cancel()
            with pytest.raises(asyncio.CancelledError):
                await sent
        finally:
            server.process.send_signal(signal.SIGCONT)
        # Stored by the cancelled call or by this one: either way once, no DuplicateJobError.
        return await queue.aenqueue("tests.jobs.sample.add", 1, job_id="c")

    assert run(main(), threads=False).id == "c"
    assert backend.count("normal") == 2
    backend.close()


def test_two_loops_at_once_in_two_threads(backend: RedisBackend) -> None:
    queue = Queue("normal", backend=backend)

    async def fifty(tag: str) -> None:
        await asyncio.gather(
            *(queue.aenqueue("tests.jobs.sample.noop", job_id=f"{tag}{i}") for i in range(50))
        )

    threads = [threading.Thread(target=asyncio.run, args=(fifty(t),)) for t in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert queue.count == 100


def test_a_stopped_redis_raises_backend_error_not_an_unknown_outcome(
    server: RedisServer,
) -> None:
    backend = redis_from_url(server.url(retry_for="0.5"))
    queue = Queue("normal", backend=backend)
    server.stop(signal.SIGKILL)  # connections refused: nothing was sent
    with pytest.raises(BackendError, match=rf"127\.0\.0\.1:{server.port}.*retry_for") as raised:
        run(queue.aenqueue("tests.jobs.sample.noop"), threads=False)
    assert not isinstance(raised.value, EnqueueOutcomeUnknownError)
    server.start()
    assert run(queue.aenqueue("tests.jobs.sample.noop"), threads=False).status is JobStatus.QUEUED
    backend.close()


def test_each_event_loop_has_its_client_closed_with_it(
    server: RedisServer, backend: RedisBackend
) -> None:
    queue = Queue("normal", backend=backend)
    before = connections(server)  # the sync side's
    for _ in range(3):  # asyncio.run: a new loop each time
        run(queue.aenqueue("tests.jobs.sample.noop"), threads=False)
        connected(server, before)
    assert queue.count == 3

    async def with_aclose() -> None:
        await queue.aenqueue("tests.jobs.sample.noop")
        assert connections(server) == before + 1  # this loop's client
        await backend.aclose()
        await asyncio.to_thread(connected, server, before)

    run(with_aclose())


def test_close_closes_the_client_of_a_loop_that_is_still_open(
    server: RedisServer,
) -> None:
    backend = redis_from_url(server.url())
    queue = Queue("normal", backend=backend)
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(queue.aenqueue("tests.jobs.sample.noop"))
        assert connections(server) >= 2
        backend.close()  # schedules the close on that loop
        loop.run_until_complete(asyncio.sleep(0.05))
        connected(server, 0)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def test_a_forked_child_opens_its_own_client(server: RedisServer, backend: RedisBackend) -> None:
    queue = Queue("normal", backend=backend)

    async def main() -> int:
        await queue.aenqueue("tests.jobs.sample.noop", job_id="parent-before")
        pid = os.fork()  # with this loop's client open
        if pid == 0:
            code = 1
            try:
                job = asyncio.run(queue.aenqueue("tests.jobs.sample.noop", job_id="child"))
                code = 0 if job.status is JobStatus.QUEUED else 1
            finally:
                os._exit(code)
        _, status = await asyncio.get_running_loop().run_in_executor(None, os.waitpid, pid, 0)
        # The child never touched the parent's sockets: the parent's client still works.
        await queue.aenqueue("tests.jobs.sample.noop", job_id="parent-after")
        return os.waitstatus_to_exitcode(status)

    assert run(main()) == 0
    assert sorted(j.id for j in queue.get_jobs()) == ["child", "parent-after", "parent-before"]


def test_many_concurrent_enqueues_from_one_loop(backend: RedisBackend) -> None:
    queue = Queue("normal", backend=backend)

    async def main() -> list[Job]:
        return await asyncio.gather(
            *(queue.aenqueue("tests.jobs.sample.add", i, i) for i in range(300))
        )

    jobs = run(main(), threads=False)
    assert len({j.id for j in jobs}) == 300
    assert queue.count == 300
    assert sorted(j.args[0] for j in queue.get_jobs(0, 300)) == list(range(300))


def test_await_result_waits_on_messages_not_by_polling(
    server: RedisServer, backend: RedisBackend
) -> None:
    queue = Queue("normal", backend=backend)
    queued = queue.enqueue("tests.jobs.sample.noop")
    reads = calls(server, "hgetall")
    with pytest.raises(WaitTimeoutError, match=r"still queued after 3 s"):
        run(queued.await_result(timeout=3), threads=False)
    # One read at the start, one at the end: none in between (a poll every
    # second, as a thread's bounded wait does, would make four).
    assert calls(server, "hgetall") - reads == 2

    async def cancel_later() -> Job:
        waiting = asyncio.create_task(queued.await_result(timeout=30))
        await asyncio.sleep(0.2)
        await asyncio.to_thread(backend.cancel, queued.id, backend.now())
        return await waiting

    reads = calls(server, "hgetall")
    assert run(cancel_later()).status is JobStatus.CANCELED
    assert calls(server, "hgetall") - reads <= 3  # woken by the cancel's message


def test_await_result_of_many_jobs_with_a_worker(backend: RedisBackend) -> None:
    queue = Queue("normal", backend=backend)
    worker = WorkerThread(backend, ["normal"], concurrency=2).start()

    async def main() -> list[Any]:
        jobs = [await queue.aenqueue("tests.jobs.sample.add", i, 1) for i in range(20)]
        ended = await asyncio.gather(*(job.await_result(timeout=30) for job in jobs))
        return [job.return_value for job in ended]

    try:
        assert run(main(), threads=False) == [i + 1 for i in range(20)]
    finally:
        worker.stop(timeout=10)


def test_cancelling_await_result_leaves_the_backend_usable(backend: RedisBackend) -> None:
    queue = Queue("normal", backend=backend)
    queued = queue.enqueue("tests.jobs.sample.noop")

    async def main() -> Job:
        waiting = asyncio.create_task(queued.await_result())
        await asyncio.sleep(0.1)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        return await queue.aenqueue("tests.jobs.sample.noop")

    assert run(main(), threads=False).status is JobStatus.QUEUED


def test_a_redis_restart_during_await_result_is_ridden_through(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "aof", persistent=True).start()
    backend = redis_from_url(server.url())
    queue = Queue("normal", backend=backend)
    queued = queue.enqueue("tests.jobs.sample.noop")

    async def main() -> Job:
        waiting = asyncio.create_task(queued.await_result(timeout=30))
        await asyncio.sleep(0.2)
        await asyncio.to_thread(server.restart)  # drops the subscription
        await asyncio.to_thread(backend.cancel, queued.id, backend.now())
        return await waiting

    try:
        assert run(main()).status is JobStatus.CANCELED
    finally:
        backend.close()
        server.stop()


def test_a_wait_on_a_stopped_redis_raises_backend_error(server: RedisServer) -> None:
    backend = redis_from_url(server.url(retry_for="0.3"))
    server.stop(signal.SIGKILL)
    with pytest.raises(BackendError):
        run(backend.aget("x"), threads=False)
    with pytest.raises(BackendError):  # not subscribed, then the read's error
        run(backend.await_end("x", 0.2), threads=False)
    backend.close()
