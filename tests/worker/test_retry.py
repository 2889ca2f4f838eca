"""Retries with real worker processes: RetryJob(defer=...) and Retry(on=...)."""

from __future__ import annotations

from pathlib import Path

import pytest

from joblane import JobStatus, Queue, Retry
from joblane.core.outcome import Outcome
from joblane.worker import frames
from tests.jobs import sample
from tests.worker.conftest import WorkerProcesses, wait_until


@pytest.mark.parametrize(
    "outcome",
    [
        Outcome.retry_in(1.25, "RetryJob: the job asked to be retried in 1.25 s"),
        Outcome.retry_in(0, ""),
        Outcome.failure("KeyError: 'x'", retryable=False),
        Outcome.failure("é boom", retryable=True),
    ],
)
def test_an_outcome_crosses_the_slot_pipe_unchanged(outcome: Outcome) -> None:
    assert frames.decode_outcome(frames.encode_outcome("job-1", outcome)) == ("job-1", outcome)


@pytest.mark.slow
def test_retry_job_runs_again_after_its_defer(
    queue: Queue, workers: WorkerProcesses, tmp_path: Path
) -> None:
    log = tmp_path / "runs"
    job = queue.enqueue(sample.retry_later, str(log), 1.0, retry=Retry(max=2, interval=600))
    workers.start("--concurrency", "1")
    wait_until(lambda: job.get_status() is JobStatus.FINISHED, timeout=20, what="the retry")
    first, second = (float(t) for t in log.read_text().split())
    # Its own defer (1 s), not the policy's interval (600 s); the worker promotes due
    # jobs about once a second.
    assert 1.0 <= second - first < 4.0
    job.refresh()
    assert job.attempts == 2
    assert job.retries_left == 1


@pytest.mark.slow
def test_retry_job_without_retries_left_fails(
    queue: Queue, workers: WorkerProcesses, tmp_path: Path
) -> None:
    job = queue.enqueue(sample.retry_later, str(tmp_path / "runs"), 0.5)
    workers.start("--concurrency", "1")
    wait_until(lambda: job.get_status() is JobStatus.FAILED, what="the job to fail")
    job.refresh()
    assert "no retries left" in (job.last_job_result or "")
    assert job.attempts == 1


@pytest.mark.slow
def test_an_exception_not_in_retry_on_fails_at_once_with_retries_left(
    queue: Queue, workers: WorkerProcesses, tmp_path: Path
) -> None:
    other, listed = tmp_path / "other", tmp_path / "listed"
    fails = queue.enqueue(sample.fail_as, str(other), "KeyError")
    retried = queue.enqueue(sample.fail_as, str(listed), "Transient")
    workers.start("--concurrency", "1")
    wait_until(lambda: all(j.get_status() is JobStatus.FAILED for j in (fails, retried)),
               timeout=20, what="both jobs to fail")  # fmt: skip
    fails.refresh()
    assert other.read_text().count("run") == 1
    assert fails.retries_left == 3  # not used: a KeyError is not worth a retry
    assert "KeyError" in (fails.last_job_result or "")
    assert listed.read_text().count("run") == 4  # the first run and 3 retries
