"""joblane.contrib.transaction with the real ``transaction`` package and SQLite
files: jobs are stored when the transaction commits, never when it aborts."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest
import transaction

import tests.jobs.sample  # noqa: F401  # the @job functions
from joblane import BackendError, DuplicateJobError, Job, JobNotStoredError, NoSuchJobError, Queue
from joblane.config import backend_from_url
from joblane.contrib.transaction import TransactionJobs, install
from joblane.spool import spool_directory
from tests.contrib.conftest import LockingResource
from tests.servers import RedisServer

ADD = "tests.jobs.sample.add"


def spooled(queue: Queue) -> list[Path]:
    directory = spool_directory(queue.backend)
    assert directory is not None
    return sorted(directory.glob("*.jobs")) if directory.is_dir() else []


def test_commit_stores_the_jobs(adapter: TransactionJobs, queue: Queue) -> None:
    jobs = [queue.enqueue(ADD, i, 1) for i in range(3)]
    assert len(queue) == 0
    with pytest.raises(JobNotStoredError):
        Job.fetch(jobs[0].id, backend=queue.backend)
    transaction.commit()
    assert [j.id for j in queue.get_jobs()] == [j.id for j in jobs]
    assert spooled(queue) == []  # written, then removed once stored


def test_abort_stores_nothing(adapter: TransactionJobs, queue: Queue) -> None:
    job = queue.enqueue(ADD, 1, 2)
    transaction.abort()
    transaction.commit()
    assert len(queue) == 0
    with pytest.raises(NoSuchJobError) as raised:
        Job.fetch(job.id, backend=queue.backend)
    assert type(raised.value) is NoSuchJobError


def test_a_savepoint_rollback_drops_the_jobs_after_it(
    adapter: TransactionJobs, queue: Queue
) -> None:
    kept = queue.enqueue(ADD, 1, 1)
    savepoint = transaction.savepoint()
    queue.enqueue(ADD, 2, 2)
    savepoint.rollback()
    transaction.commit()
    assert [j.id for j in queue.get_jobs()] == [kept.id]


def test_a_savepoint_taken_before_the_first_enqueue(adapter: TransactionJobs, queue: Queue) -> None:
    savepoint = transaction.savepoint()
    queue.enqueue(ADD, 1, 1)
    savepoint.rollback()  # aborts and unjoins the data manager
    again = queue.enqueue(ADD, 2, 2)  # joins a new one
    transaction.commit()
    assert [j.id for j in queue.get_jobs()] == [again.id]


def test_an_explicit_manager_joins_only_a_begun_transaction(queue: Queue) -> None:
    manager = transaction.TransactionManager(explicit=True)
    adapter = install(manager)
    try:
        outside = queue.enqueue(ADD, 1, 1)
        assert len(queue) == 1  # no transaction: stored at once, as without the adapter
        manager.begin()
        inside = queue.enqueue(ADD, 2, 2)
        assert len(queue) == 1
        manager.commit()
        assert [j.id for j in queue.get_jobs()] == [outside.id, inside.id]
        manager.begin()
        queue.enqueue(ADD, 3, 3)
        manager.abort()
        assert len(queue) == 2
    finally:
        adapter.uninstall()


def test_the_vote_refuses_an_id_a_live_job_has(adapter: TransactionJobs, queue: Queue) -> None:
    adapter.uninstall()
    queue.enqueue(ADD, 1, 1, job_id="taken")
    strict = install(retries=0)
    try:
        queue.enqueue(ADD, 2, 2)
        queue.enqueue(ADD, 3, 3, job_id="taken")
        with pytest.raises(DuplicateJobError):
            transaction.commit()
    finally:
        transaction.abort()
        strict.uninstall()
    assert [j.id for j in queue.get_jobs()] == ["taken"]


def test_a_failure_in_tpc_finish_spools_and_a_later_commit_replays(
    adapter: TransactionJobs, queue: Queue, db_path: Path
) -> None:
    lock = LockingResource(db_path)
    transaction.get().join(lock)
    first = queue.enqueue(ADD, 1, 1)
    transaction.commit()  # committed: tpc_finish does not raise
    lock.release()
    assert len(queue) == 0 and len(spooled(queue)) == 1
    second = queue.enqueue(ADD, 2, 2)
    transaction.commit()
    assert {j.id for j in queue.get_jobs()} == {first.id, second.id}
    assert spooled(queue) == []


def test_without_the_spool_a_failure_in_tpc_finish_loses_the_jobs_and_says_so(
    adapter: TransactionJobs, queue: Queue, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    adapter.spool = False
    lock = LockingResource(db_path)
    transaction.get().join(lock)
    job = queue.enqueue(ADD, 1, 1)
    with caplog.at_level(logging.ERROR, "joblane.transaction"):
        transaction.commit()
    lock.release()
    assert len(queue) == 0 and spooled(queue) == []
    assert f"{job.id} of a committed transaction are lost" in caplog.text


def test_an_enqueue_while_committing_stores_at_once(adapter: TransactionJobs, queue: Queue) -> None:
    stored = []
    transaction.get().addAfterCommitHook(lambda ok: stored.append(queue.enqueue(ADD, 1, 1)))
    transaction.commit()
    assert [j.id for j in queue.get_jobs()] == [stored[0].id]


def test_the_vote_fails_while_the_backend_is_down(adapter: TransactionJobs, tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis").start()
    backend = backend_from_url(server.url(retry_for="0.5"))
    try:
        queue = Queue("normal", backend=backend)
        job = queue.enqueue(ADD, 1, 1)
        server.stop()
        with pytest.raises(BackendError):
            transaction.commit()
        transaction.abort()
        server.start()
        assert len(queue) == 0
        with pytest.raises(NoSuchJobError) as raised:
            Job.fetch(job.id, backend=backend)
        assert type(raised.value) is NoSuchJobError
    finally:
        backend.close()
        server.stop()


def test_each_thread_has_its_own_transaction(adapter: TransactionJobs, queue: Queue) -> None:
    ids: dict[str, str] = {}

    def work(name: str, commit: bool) -> None:
        ids[name] = queue.enqueue(ADD, 1, 1).id
        barrier.wait()  # both enqueued before either ends its transaction
        transaction.commit() if commit else transaction.abort()

    barrier = threading.Barrier(2)
    threads = [
        threading.Thread(target=work, args=(n, n == "commits")) for n in ("commits", "aborts")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert [j.id for j in queue.get_jobs()] == [ids["commits"]]
