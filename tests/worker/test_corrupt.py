"""A real worker process over records broken behind joblane's back: each bad
job ends failed with a reason naming its field, every other job runs, and the
worker neither crashes nor stalls. tests/redis/test_worker_corrupt.py runs
these on Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from joblane import Job, JobStatus, Queue
from joblane.backends.base import Backend
from tests.corruption import Corrupter
from tests.jobs import sample
from tests.worker.conftest import WorkerProcesses

pytestmark = pytest.mark.slow


@pytest.fixture
def corrupter(db_url: str) -> Iterator[Corrupter]:
    corrupter = Corrupter(db_url)
    yield corrupter
    corrupter.close()


def run_burst(workers: WorkerProcesses, *args: str) -> str:
    proc = workers.start("--burst", *args)
    assert proc.wait(60) == 0, workers.log(len(workers.procs) - 1)
    log = workers.log(len(workers.procs) - 1)
    assert "Traceback" not in log, log
    return log


def test_a_worker_runs_every_job_but_the_corrupt_ones(
    queue: Queue, backend: Backend, workers: WorkerProcesses, corrupter: Corrupter, tmp_path: Path
) -> None:
    ran = tmp_path / "ran.log"
    good: list[Job] = []
    bad: dict[str, str] = {}
    for field in corrupter.bad:
        good.append(queue.enqueue(sample.touch, str(ran), f"good-{len(good)}"))
        job = queue.enqueue(sample.touch, str(ran), f"bad-{field}")
        corrupter.break_field(job.id, field)
        bad[field] = job.id
    good.append(queue.enqueue(sample.touch, str(ran), f"good-{len(good)}"))
    log = run_burst(workers, "--concurrency", "2")
    assert sorted(ran.read_text().split()) == sorted(f"good-{i}" for i in range(len(good)))
    for job in good:
        assert job.get_status() is JobStatus.FINISHED
    for field, job_id in bad.items():
        stored = backend.get(job_id)
        assert stored is not None and stored.status is JobStatus.FAILED, (field, stored)
        reason = stored.last_job_result or ""
        assert reason.startswith(f"CorruptRecordError: field {field!r} of job {job_id!r}: ")
        assert job_id in log  # reported


def test_a_payload_without_its_arguments_is_not_run_without_them(
    queue: Queue, backend: Backend, workers: WorkerProcesses, corrupter: Corrupter, tmp_path: Path
) -> None:
    ran = tmp_path / "ran.log"
    job = queue.enqueue(sample.touch, str(ran), "never")
    # Valid JSON, but no "args": the function must not run with kwargs alone.
    payload = orjson.dumps({"kwargs": {"path": str(ran), "text": "without args"}})
    corrupter.set(job.id, "payload", payload)
    other = queue.enqueue(sample.touch, str(ran), "other")
    run_burst(workers)
    assert ran.read_text() == "other\n"
    assert other.get_status() is JobStatus.FINISHED
    stored = backend.get(job.id)
    assert stored is not None and stored.status is JobStatus.FAILED
    assert (stored.last_job_result or "").startswith(
        "PayloadDecodeError: the job's arguments could not be decoded: job payload must have "
        "exactly the keys 'args' and 'kwargs'"
    )
