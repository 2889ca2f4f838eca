"""Workers with thread slots (``executor="thread"``, WorkerThread) over the memory backend."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from joblane import InvalidStateError, Job, JobStatus, Queue, Worker, WorkerThread
from joblane.backends.memory import MemoryBackend
from joblane.testing import ManualClock
from tests.api.conftest import drain
from tests.jobs import sample


class JobThreadsFirstClock(ManualClock):
    """A manual clock whose ``now()`` first waits for running job threads to end:
    the worker's next turn starts only after its job is done."""

    def now(self) -> float:
        for thread in threading.enumerate():
            if thread.name.startswith("joblane-job-") and thread is not threading.current_thread():
                thread.join(5)
        return super().now()


def test_burst_worker_settles_a_job_that_ended_before_its_next_turn() -> None:
    backend = MemoryBackend(clock=JobThreadsFirstClock())
    job = Queue("normal", backend=backend).enqueue(sample.add, 1, 2)
    Worker(backend, ["normal"], executor="thread", concurrency=1, burst=True).run(
        install_signals=False
    )
    assert job.get_status() is JobStatus.FINISHED


def test_burst_worker_runs_every_queued_job_in_priority_order(
    backend: MemoryBackend, tmp_path: Path
) -> None:
    log = tmp_path / "order.txt"
    low = Queue("low", backend=backend)
    high = Queue("important", backend=backend)
    low.enqueue(sample.touch, str(log), "low-1")
    high.enqueue(sample.touch, str(log), "high-1")
    low.enqueue(sample.touch, str(log), "low-2")
    high.enqueue(sample.touch, str(log), "high-2")
    stats = drain(backend, ["important", "normal", "low"])
    assert log.read_text().split() == ["high-1", "high-2", "low-1", "low-2"]
    assert (stats.claimed, stats.finished, stats.failed) == (4, 4, 0)
    assert low.finished_job_registry.count == 2
    assert high.finished_job_registry.count == 2


def test_burst_worker_with_nothing_to_do_returns(backend: MemoryBackend) -> None:
    started = time.monotonic()
    assert drain(backend).claimed == 0
    assert time.monotonic() - started < 2


def test_worker_thread_records_the_worker_name(
    queue: Queue, start_worker: Callable[..., WorkerThread]
) -> None:
    thread = start_worker(name="api-worker")
    job = queue.enqueue(sample.add, 2, 2).wait(timeout=5)
    assert job.status is JobStatus.FINISHED
    assert job.worker_name == "api-worker"
    assert thread.worker.stats.finished == 1


def test_cancel_a_started_job_is_stopped_by_its_worker(
    queue: Queue, backend: MemoryBackend
) -> None:
    key = "api-cancel-started"
    # The real thread executor: the job is stopped while it runs.
    thread = WorkerThread(
        backend, ["normal"], executor="thread", concurrency=1, lease_seconds=0.5
    ).start()
    try:
        job = queue.enqueue(sample.hold, key, 5.0)
        assert sample.gate(key + ":running").wait(5)
        assert job.get_status() is JobStatus.STARTED
        assert queue.started_job_registry.get_job_ids() == [job.id]
        job.cancel()
        assert job.status is JobStatus.STARTED  # its worker stops it
        assert job.wait(timeout=5).status is JobStatus.STOPPED
        assert job.ended_at is not None
        assert (job.last_job_result or "").startswith("stopped")
        assert queue.canceled_job_registry.get_job_ids() == [job.id]
        assert queue.started_job_registry.count == 0
        with pytest.raises(InvalidStateError):
            job.cancel()
    finally:
        sample.gate(key).set()
        thread.stop()
    # The abandoned attempt, ended later, records nothing.
    assert Job.fetch(job.id, backend=backend).status is JobStatus.STOPPED


def test_a_timed_out_thread_job_is_said_abandoned_not_killed() -> None:
    backend = MemoryBackend()
    job = Queue("normal", backend=backend).enqueue(sample.sleep, 1.0, job_timeout=0.2)
    with WorkerThread(backend, ["normal"], concurrency=1):
        job.wait(timeout=5)
    assert job.status is JobStatus.FAILED
    reason = job.last_job_result or ""
    assert reason.startswith("JobTimeoutError: the job ran longer than its job_timeout of 0.2 s")
    assert "was killed" not in reason
    assert "cannot be stopped" in reason and "abandoned" in reason
