"""kill -9 of a worker draining fast jobs, again and again: batched claims stay
exact (a job claimed ahead of its start is given back uncounted, a job that ran
is run again, never failed), and every job ends finished."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest

from joblane import JobStatus, Queue
from joblane.backends.base import Backend
from tests.jobs import sample
from tests.worker.conftest import WorkerProcesses, wait_until

pytestmark = pytest.mark.slow

JOBS = 4000
KILLS = 5


def finished(backend: Backend, ids: list[str]) -> int:
    return sum(1 for r in backend.get_many(ids) if r and r.status is JobStatus.FINISHED)


def test_kill_9_storm_during_a_drain_loses_and_fails_nothing(
    queue: Queue, backend: Backend, workers: WorkerProcesses, tmp_path: Path
) -> None:
    log = tmp_path / "ran.log"
    jobs = queue.enqueue_many(
        [Queue.prepare_data(sample.touch, (str(log), f"j{i}")) for i in range(JOBS)]
    )
    ids = [j.id for j in jobs]
    target = 0
    for _ in range(KILLS):
        worker = workers.start("--lease", "1", "--concurrency", "2")
        # Kill it mid-drain: once it has done a few hundred more jobs.
        target += JOBS // (KILLS + 2)

        def progressed(t: int = target) -> bool:
            return finished(backend, ids) >= t

        wait_until(progressed, timeout=20, what="progress")
        worker.send_signal(signal.SIGKILL)
        worker.wait(5)
    workers.start("--lease", "1", "--concurrency", "2")
    wait_until(lambda: finished(backend, ids) == JOBS, timeout=30, what="every job to finish")

    records = backend.get_many(ids)
    runs = Counter(log.read_text().split())
    assert all(r is not None and r.status is JobStatus.FINISHED for r in records)
    assert all(runs[f"j{i}"] >= 1 for i in range(JOBS))  # each ran at least once
    # Charged without having run: at most the jobs a killed worker had just
    # handed to its slots (2 slots, 2 deep), never its whole batch.
    charged = [r for i, r in enumerate(records) if r and r.attempts > runs[f"j{i}"]]
    assert len(charged) <= KILLS * 4, len(charged)
    lost = [r for r in records if r and r.lost_attempts]
    assert len(lost) <= KILLS * 4, len(lost)
    # Ran more than once only where a kill hit before the outcome was recorded.
    reruns = sum(n - 1 for n in runs.values())
    assert reruns <= KILLS * 200, reruns
