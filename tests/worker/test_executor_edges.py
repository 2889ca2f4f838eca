"""Edge cases of the worker and its slot processes: each test
runs a real Worker with process slots in this process, over a backend."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from joblane import JobStatus, Queue, Worker
from joblane.backends.memory import MemoryBackend
from joblane.config import backend_from_url
from joblane.core.job import DEFAULT_MAX_PAYLOAD
from joblane.core.outcome import Outcome
from joblane.worker.thread_executor import ThreadExecutor
from tests.jobs import sample


def test_large_jobs_and_results_never_deadlock_a_pipelining_worker() -> None:
    # Pipelining writes a job to a busy slot; a large one must wait for its turn,
    # or the worker blocks writing while the slot blocks writing its large result.
    backend = MemoryBackend()
    queue = Queue("normal", backend=backend)
    text = "x" * (DEFAULT_MAX_PAYLOAD - 100)
    small = [queue.enqueue(sample.add, i, i) for i in range(300)]  # sub-ms: pipelining on
    big = [queue.enqueue(sample.echo_size, text) for _ in range(4)]
    worker = Worker(backend, ["normal"], concurrency=1, burst=True)
    timer = threading.Timer(60, worker.stop, kwargs={"now": True})
    timer.start()
    try:
        worker.run(install_signals=False)
    finally:
        timer.cancel()
    assert all(j.refresh().status is JobStatus.FINISHED for j in small + big)
    assert len(big[0].return_value) == len(text)


def test_burst_runs_the_jobs_its_jobs_release_or_enqueue(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    backend = backend_from_url(url)
    queue = Queue("normal", backend=backend)
    parent = queue.enqueue(sample.add, 1, 1)
    child = queue.enqueue(sample.add, 2, 2, depends_on=parent)
    chain = queue.enqueue(sample.enqueue_next, url, 3)
    Worker(backend, ["normal"], concurrency=2, burst=True).run(install_signals=False)
    assert child.refresh().status is JobStatus.FINISHED
    assert chain.refresh().status is JobStatus.FINISHED
    assert queue.count == 0
    assert queue.finished_job_registry.count == 6


def test_a_stopping_worker_starts_nothing_new() -> None:
    backend = MemoryBackend()
    queue = Queue("normal", backend=backend)
    slow = [queue.enqueue(sample.sleep, 0.5) for _ in range(2)]
    rest = [queue.enqueue(sample.sleep, 0.5) for _ in range(5)]
    worker = Worker(backend, ["normal"], concurrency=2, prefetch=5)
    threading.Timer(0.25, worker.stop).start()
    stats = worker.run(install_signals=False)
    assert stats.finished == 2
    assert [j.refresh().status for j in slow] == [JobStatus.FINISHED] * 2
    assert all(j.refresh().status is JobStatus.QUEUED for j in rest)
    assert all(j.attempts == 0 for j in rest)


@pytest.mark.parametrize("depth", [1, 2])
def test_a_job_that_ended_just_before_its_deadline_is_not_timed_out(depth: int) -> None:
    # The deadline check comes before outcomes are read: a job that ended in
    # time must keep its success, and the job behind it must not be cut short.
    backend = MemoryBackend()
    queue = Queue("normal", backend=backend)
    first = queue.enqueue(sample.sleep, 0.2, job_timeout=0.3)
    second = queue.enqueue(sample.sleep, 0.2)
    worker = Worker(backend, ["normal"], concurrency=1, burst=True)
    worker.executor.start()
    worker.executor.depth = depth
    _, jobs = backend.claim(["normal"], worker="w", limit=2, lease_seconds=30, now=backend.now())
    for job in jobs:
        worker.executor.submit(job)
    time.sleep(0.45)  # the first ended at ~0.2 s; its deadline (0.3 s) has passed
    assert worker.executor.kill(first.id) is None  # it is over: nothing to kill
    outcomes: dict[str, Outcome] = {}
    deadline = time.monotonic() + 5
    while len(outcomes) < 2 and time.monotonic() < deadline:
        outcomes.update({job.id: o for job, o in worker.executor.wait(0.1)})
    worker.executor.close()
    assert outcomes[first.id].kind == "succeeded"
    assert outcomes[second.id].kind == "succeeded"


def test_a_cancel_after_a_thread_job_returned_leaves_it_finished() -> None:
    # The first recorded outcome wins: a job whose function returned is not
    # turned "stopped" by a kill (cancel, deadline) that comes before its
    # outcome was read.
    backend = MemoryBackend()
    queue = Queue("normal", backend=backend)
    job = queue.enqueue(sample.add, 1, 2)
    executor = ThreadExecutor(1, None)
    _, [claimed] = backend.claim(["normal"], worker="w", limit=1, lease_seconds=30,
                                 now=backend.now())  # fmt: skip
    executor.submit(claimed)
    deadline = time.monotonic() + 5
    while executor._done.empty() and time.monotonic() < deadline:  # the thread returned
        time.sleep(0.001)
    assert executor.kill(job.id) is None  # too late: it ended
    [(done, outcome)] = executor.wait(0)
    assert (done.id, outcome) == (job.id, Outcome.success(b"3"))
    assert executor.running() == []


def test_claimed_ahead_jobs_record_their_real_start() -> None:
    # A worker batching fast jobs records each job's start when it begins in a
    # slot, not at the claim; a job still waiting in the batch has none.
    backend = MemoryBackend()
    queue = Queue("normal", backend=backend)
    jobs = [queue.enqueue(sample.sleep, 0.05) for _ in range(6)]
    worker = Worker(backend, ["normal"], concurrency=1, prefetch=5, burst=True)
    stats = worker.run(install_signals=False)
    assert stats.finished == 6
    records = [j.refresh().record for j in jobs]
    starts = [r.started for r in records]
    assert all(s is not None for s in starts)
    # One slot, 50 ms each: the n-th job began about n * 50 ms after the first.
    first = records[0].started or 0.0
    assert all((s or 0.0) - first >= 0.04 * n for n, s in enumerate(starts))
    assert all(r.ended is not None and r.started is not None and r.ended >= r.started
               for r in records)  # fmt: skip
