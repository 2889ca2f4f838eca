"""Retries through a worker: counts, intervals, tracebacks, and what is never retried."""

from __future__ import annotations

from pathlib import Path

from joblane import JobStatus, Queue, Retry
from joblane.backends.memory import MemoryBackend
from joblane.tasks import AllowPolicy
from joblane.testing import ManualClock
from tests.api.conftest import drain
from tests.jobs import sample


def test_retries_with_no_interval_end_failed(queue: Queue, backend: MemoryBackend) -> None:
    job = queue.enqueue(sample.fail, "again", retry=Retry(max=2, interval=0))
    stats = drain(backend)
    assert (stats.claimed, stats.retried, stats.failed) == (3, 2, 1)
    job.refresh()
    assert job.status is JobStatus.FAILED
    assert job.attempts == 3
    assert job.retries_left == 0
    text = job.last_job_result or ""
    assert text.startswith("Traceback (most recent call last):\n")
    assert 'tests/jobs/sample.py", line' in text
    assert text.endswith("RuntimeError: again\n")
    assert queue.failed_job_registry.get_job_ids() == [job.id]


def test_retry_as_an_int(queue: Queue, backend: MemoryBackend) -> None:
    job = queue.enqueue(sample.fail, retry=1)
    drain(backend)
    assert job.refresh().attempts == 2
    assert job.status is JobStatus.FAILED


def test_retry_intervals_wait_in_the_scheduled_registry(
    queue: Queue, backend: MemoryBackend, clock: ManualClock
) -> None:
    job = queue.enqueue(sample.fail, retry=Retry(max=2, interval=[10, 30]))
    start = clock.now()
    drain(backend)
    job.refresh()
    assert job.status is JobStatus.SCHEDULED
    assert job.attempts == 1
    assert job.retries_left == 1
    assert job.record.scheduled == start + 10
    assert (job.last_job_result or "").endswith("RuntimeError: boom\n")
    assert queue.scheduled_job_registry.get_job_ids() == [job.id]

    clock.advance(9)
    assert drain(backend).claimed == 0
    clock.advance(1)
    drain(backend)
    job.refresh()
    assert (job.status, job.attempts, job.retries_left) == (JobStatus.SCHEDULED, 2, 0)
    assert job.record.scheduled == start + 10 + 30

    clock.advance(30)
    drain(backend)
    job.refresh()
    assert (job.status, job.attempts) == (JobStatus.FAILED, 3)
    assert queue.scheduled_job_registry.count == 0


def test_succeeds_on_a_retry(queue: Queue, backend: MemoryBackend, tmp_path: Path) -> None:
    job = queue.enqueue(sample.flaky, str(tmp_path / "runs"), 2, retry=3)
    drain(backend)
    job.refresh()
    assert job.status is JobStatus.FINISHED
    assert job.return_value == 3
    assert job.attempts == 3
    assert job.retries_left == 1
    assert (job.last_job_result or "").endswith("RuntimeError: flaky failure 2\n")


def test_not_allowed_function_is_not_retried(queue: Queue, backend: MemoryBackend) -> None:
    job = queue.enqueue(sample.not_marked, 1, retry=3)
    drain(backend)
    job.refresh()
    assert job.status is JobStatus.FAILED
    assert job.attempts == 1
    assert job.retries_left == 3
    assert (job.last_job_result or "").startswith(
        "FunctionNotAllowedError: 'tests.jobs.sample.not_marked' is not allowed in this worker"
    )


def test_unserializable_result_is_not_retried(queue: Queue, backend: MemoryBackend) -> None:
    job = queue.enqueue(sample.unserializable_result, retry=3)
    drain(backend)
    job.refresh()
    assert (job.status, job.attempts) == (JobStatus.FAILED, 1)
    assert (job.last_job_result or "").startswith("ResultSerializationError: return value")


def test_import_failure_is_retried(queue: Queue, backend: MemoryBackend) -> None:
    job = queue.enqueue("tests.jobs.needs_missing_dep.run", retry=1)
    drain(backend, allow=AllowPolicy.from_prefixes(["tests.jobs"]))
    job.refresh()
    assert job.status is JobStatus.FAILED
    assert job.attempts == 2
    assert (job.last_job_result or "").startswith(
        "FunctionImportError: cannot import 'tests.jobs.needs_missing_dep.run': ModuleNotFoundError"
    )
