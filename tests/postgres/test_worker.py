"""Real ``joblane worker`` processes on PostgreSQL: they claim, run and settle,
in priority order, woken by NOTIFY; a SIGTERM lets the running job finish."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest

import tests.jobs.ledger  # noqa: F401  # the @job functions
from joblane import Queue
from joblane.backends.postgres import PostgresBackend
from joblane.core.states import JobStatus, Registry
from tests.jobs.ledger import tags
from tests.worker.conftest import WorkerProcesses, wait_until

RECORD = "tests.jobs.ledger.record"

pytestmark = pytest.mark.slow


def test_workers_run_every_job_once(
    pg: PostgresBackend, pg_workers: WorkerProcesses, tmp_path: Path
) -> None:
    ledger = str(tmp_path / "ledger")
    for index in range(2):
        pg_workers.start("--import", "tests.jobs.ledger", "-c", "2", name=f"pg{index}")
    # Both up before the jobs: on a loaded machine one could drain them all before
    # the other has registered.
    wait_until(lambda: len(pg.workers()) == 2, timeout=30, what="both workers registered")
    queue = Queue("normal", backend=pg)
    expected = [f"t{n}" for n in range(60)]
    for tag in expected[:20]:
        queue.enqueue(RECORD, ledger, tag)  # one by one, each waking an idle worker
    queue.enqueue_many([Queue.prepare_data(RECORD, (ledger, tag)) for tag in expected[20:]])
    wait_until(lambda: len(tags(ledger)) >= len(expected), what="every job")
    wait_until(
        lambda: pg.registry_count("normal", Registry.FINISHED) == len(expected), what="settled"
    )
    assert Counter(tags(ledger)) == Counter(expected)
    names = [w.name for w in pg.workers()]
    assert names == ["pg0", "pg1"], [pg_workers.log(i)[-3000:] for i in range(2)]


def test_sigterm_finishes_the_running_job(
    pg: PostgresBackend, pg_workers: WorkerProcesses, tmp_path: Path
) -> None:
    proc = pg_workers.start("-c", "1")
    running = tmp_path / "running"
    job = Queue("normal", backend=pg).enqueue(
        "tests.jobs.sample.record_pid_and_sleep", str(running), 1.0
    )
    # Running in its slot, not only claimed (a job claimed but not yet begun when
    # the signal comes is given back to its queue, as it should be).
    wait_until(running.exists, what="the job running")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    stored = pg.get(job.id)
    assert stored is not None and stored.status is JobStatus.FINISHED
