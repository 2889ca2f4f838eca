"""The decision after an attempt (joblane.core.outcome.decide)."""

from __future__ import annotations

from typing import Any

import pytest

from joblane.core.job import RESULT_TTL_ZERO_GRACE, JobOptions, JobRecord, new_job
from joblane.core.outcome import (
    INTERRUPTED,
    STOPPED,
    Outcome,
    OutcomeKind,
    Settlement,
    decide,
    timeout_error,
    worker_lost_error,
)
from joblane.core.retry import Retry
from joblane.core.states import JobStatus
from joblane.testing import ManualClock

CLOCK = ManualClock()
ENQUEUED = CLOCK.now()
STARTED = ENQUEUED + 10
NOW = ENQUEUED + 12
TOKEN = "lease-1"


def started_job(attempts: int = 1, **options: Any) -> JobRecord:
    """A job as a worker holds it: claimed, with its *attempts*-th run counted."""
    job = new_job("normal", "pkg.mod.f", [], {}, JobOptions(**options), now=ENQUEUED)
    return job.copy(
        status=JobStatus.STARTED,
        started=STARTED,
        attempts=attempts,
        worker_name="w1",
        lease_token=TOKEN,
        lease_expires=STARTED + 5,
    )


def test_success_keeps_the_result_for_result_ttl() -> None:
    job = started_job(result_ttl=60)
    s = decide(job, TOKEN, Outcome.success(b"42"), NOW)
    assert s == Settlement(
        job.id,
        TOKEN,
        JobStatus.FINISHED,
        ended=NOW,
        result=b"42",
        last_job_result=None,
        retries_left=0,
        attempts=1,
        scheduled=None,
        enqueued=ENQUEUED,
        expires_at=NOW + 60,
        started=STARTED,
        queue=job.queue,
    )
    assert not s.failed_for_good


def test_success_with_result_ttl_zero_is_kept_for_the_grace() -> None:
    s = decide(started_job(result_ttl=0), TOKEN, Outcome.success(b"1"), NOW)
    assert s.status is JobStatus.FINISHED
    assert s.expires_at == NOW + RESULT_TTL_ZERO_GRACE


def test_success_with_result_ttl_forever_never_expires() -> None:
    s = decide(started_job(result_ttl=-1), TOKEN, Outcome.success(b"1"), NOW)
    assert s.status is JobStatus.FINISHED
    assert s.expires_at is None


def test_success_after_a_failed_attempt_keeps_the_last_traceback() -> None:
    job = started_job(attempts=2, retry=1).copy(retries_left=0, last_job_result="Traceback ...")
    s = decide(job, TOKEN, Outcome.success(b"null"), NOW)
    assert s.status is JobStatus.FINISHED
    assert s.last_job_result == "Traceback ..."
    assert s.attempts == 2


def test_failure_with_interval_is_scheduled() -> None:
    job = started_job(retry=Retry(max=2, interval=30))
    s = decide(job, TOKEN, Outcome.failure("Traceback: boom"), NOW)
    assert s.status is JobStatus.SCHEDULED
    assert s.scheduled == NOW + 30
    assert s.retries_left == 1
    assert s.attempts == 1
    assert s.last_job_result == "Traceback: boom"
    assert s.expires_at is None
    assert s.enqueued == ENQUEUED
    assert not s.failed_for_good


@pytest.mark.parametrize(("attempts", "delay"), [(1, 10), (2, 20), (3, 40), (4, 40)])
def test_nth_failure_waits_the_nth_interval(attempts: int, delay: float) -> None:
    job = started_job(attempts=attempts, retry=Retry(max=10, interval=[10, 20, 40]))
    s = decide(job, TOKEN, Outcome.failure("x"), NOW)
    assert s.status is JobStatus.SCHEDULED
    assert s.scheduled == NOW + delay


def test_failure_with_interval_zero_is_queued_again_at_once() -> None:
    job = started_job(retry=Retry(max=1, interval=0))
    s = decide(job, TOKEN, Outcome.failure("boom"), NOW)
    assert s.status is JobStatus.QUEUED
    assert s.scheduled is None
    assert s.enqueued == NOW
    assert s.retries_left == 0
    assert s.last_job_result == "boom"
    assert not s.failed_for_good


def test_failure_with_no_retries_left_fails_for_good() -> None:
    job = started_job(attempts=3, retry=2, failure_ttl=3600).copy(retries_left=0)
    s = decide(job, TOKEN, Outcome.failure("boom"), NOW)
    assert s.status is JobStatus.FAILED
    assert s.ended == NOW
    assert s.expires_at == NOW + 3600
    assert s.retries_left == 0
    assert s.attempts == 3
    assert s.last_job_result == "boom"
    assert s.result is None
    assert s.failed_for_good


def test_failure_kept_forever() -> None:
    s = decide(started_job(failure_ttl=-1), TOKEN, Outcome.failure("boom"), NOW)
    assert s.status is JobStatus.FAILED
    assert s.expires_at is None


def test_non_retryable_failure_skips_retries() -> None:
    job = started_job(retry=5)
    s = decide(job, TOKEN, Outcome.failure("PayloadDecodeError: bad", retryable=False), NOW)
    assert s.status is JobStatus.FAILED
    assert s.retries_left == 5
    assert s.last_job_result == "PayloadDecodeError: bad"


def test_stopped() -> None:
    job = started_job(retry=3, failure_ttl=100)
    s = decide(job, TOKEN, STOPPED, NOW)
    assert s.status is JobStatus.STOPPED
    assert s.ended == NOW
    assert s.expires_at == NOW + 100
    assert s.retries_left == 3  # a canceled job is not retried
    assert s.last_job_result is not None and s.last_job_result.startswith("stopped")
    assert s.failed_for_good


def test_interrupted_gives_the_attempt_back() -> None:
    job = started_job(attempts=2, retry=3).copy(retries_left=2, last_job_result="earlier")
    s = decide(job, TOKEN, INTERRUPTED, NOW)
    assert s.status is JobStatus.QUEUED
    assert s.attempts == 1
    assert s.retries_left == 2
    assert s.ended is None
    assert s.result is None
    assert s.last_job_result == "earlier"
    assert s.enqueued == ENQUEUED  # keeps its place in time
    assert s.front  # it was first in line: it goes back there
    assert not s.failed_for_good


def test_interrupted_never_counts_below_zero() -> None:
    assert decide(started_job(attempts=0), TOKEN, INTERRUPTED, NOW).attempts == 0


def test_settlement_carries_the_token() -> None:
    job = started_job()
    assert decide(job, "other", Outcome.success(b"1"), NOW).token == "other"
    assert decide(job, TOKEN, Outcome.failure("x"), NOW).job_id == job.id


def test_outcome_constructors() -> None:
    assert Outcome.success(b"1") == Outcome(OutcomeKind.SUCCEEDED, result=b"1")
    failure = Outcome.failure("e", retryable=False)
    assert (failure.kind, failure.error, failure.retryable) == (OutcomeKind.FAILED, "e", False)
    assert Outcome.failure("e").retryable is True


def test_reason_texts() -> None:
    assert timeout_error(2.5) == (
        "JobTimeoutError: the job ran longer than its job_timeout of 2.5 s and was killed"
    )
    assert worker_lost_error("gone") == "WorkerLostError: gone"
    assert "cannot be stopped" in timeout_error(1, killed=False)


LOST = Outcome.lost(worker_lost_error("the job's process killed by SIGKILL"))


def test_lost_job_runs_again_first_in_line_whatever_its_retry_policy() -> None:
    job = started_job(attempts=1)  # retry 0: RQ's default
    s = decide(job, TOKEN, LOST, NOW)
    assert s.status is JobStatus.QUEUED
    assert s.front
    assert s.lost_attempts == 1
    assert s.attempts == 1  # it ran: the attempt counts
    assert s.retries_left == 0  # the retry budget is not touched
    assert s.last_job_result == LOST.error
    assert s.ended is None and s.expires_at is None


def test_lost_job_fails_once_lost_max_lost_times() -> None:
    job = started_job(attempts=3, retry=5).copy(lost_attempts=2)
    s = decide(job, TOKEN, LOST, NOW, max_lost=3)
    assert s.status is JobStatus.FAILED
    assert s.lost_attempts == 3
    assert s.retries_left == 5  # independent of the retry policy
    assert s.last_job_result is not None
    assert s.last_job_result.startswith("WorkerLostError: the job's process killed by SIGKILL")
    assert "lost 3 times (max_lost=3)" in s.last_job_result
    assert s.failed_for_good


@pytest.mark.parametrize("max_lost", [1, 2, 5])
def test_max_lost_bounds_the_runs(max_lost: int) -> None:
    job = started_job()
    runs = 0
    while True:
        runs += 1
        s = decide(job, TOKEN, LOST, NOW, max_lost=max_lost)
        if s.status is not JobStatus.QUEUED:
            break
        job = job.copy(lost_attempts=s.lost_attempts, attempts=s.attempts + 1)
    assert s.status is JobStatus.FAILED
    assert runs == max_lost


def test_lost_before_it_began_is_given_back_uncounted() -> None:
    job = started_job(attempts=2).copy(started=None, lost_attempts=1, last_job_result="x")
    s = decide(job, TOKEN, LOST, NOW, max_lost=1)
    assert s.status is JobStatus.QUEUED
    assert s.front
    assert s.attempts == 1  # the claim is not counted
    assert s.lost_attempts == 1  # nor is the loss: it never ran
    assert s.last_job_result == "x"


def test_every_settlement_carries_the_start_and_lost_count() -> None:
    job = started_job().copy(lost_attempts=1)
    for outcome in (Outcome.success(b"1"), Outcome.failure("e"), STOPPED):
        s = decide(job, TOKEN, outcome, NOW)
        assert (s.started, s.lost_attempts, s.front) == (STARTED, 1, False)


# -- back-off, jitter, RetryJob (issue 10) -----------------------------------


def test_exponential_backoff_waits_grow_by_the_factor_up_to_the_cap() -> None:
    job = started_job(retry=Retry(max=8, interval=2, factor=3, cap=100))
    waits = []
    for attempt in range(1, 8):
        s = decide(job.copy(attempts=attempt), TOKEN, Outcome.failure("boom"), NOW)
        assert s.status is JobStatus.SCHEDULED and s.scheduled is not None
        waits.append(s.scheduled - NOW)
    assert waits == [2, 6, 18, 54, 100, 100, 100]


def test_jitter_takes_up_to_its_fraction_off_each_wait_seeded() -> None:
    import random

    retry = Retry(max=5, interval=10, factor=2, cap=1000, jitter=0.5)
    first = new_job("q", "pkg.mod.f", [], {}, JobOptions(retry=retry), now=0,
                    rng=random.Random(7))  # fmt: skip
    again = new_job("q", "pkg.mod.f", [], {}, JobOptions(retry=retry), now=0,
                    rng=random.Random(7))  # fmt: skip
    assert first.retry_intervals == again.retry_intervals  # the RNG decides, nothing else
    for wait, full in zip(first.retry_intervals, (10, 20, 40, 80, 160), strict=True):
        assert full / 2 <= wait <= full
    assert first.retry_intervals != (10, 20, 40, 80, 160)


def test_retry_job_is_scheduled_after_its_defer_whatever_the_interval() -> None:
    job = started_job(retry=Retry(max=2, interval=600))
    s = decide(job, TOKEN, Outcome.retry_in(1.5, "RetryJob: later"), NOW)
    assert s.status is JobStatus.SCHEDULED
    assert s.scheduled == NOW + 1.5
    assert s.retries_left == 1
    assert s.last_job_result == "RetryJob: later"


def test_retry_job_with_defer_zero_is_queued_again_at_once() -> None:
    s = decide(started_job(retry=Retry(max=1)), TOKEN, Outcome.retry_in(0, "RetryJob"), NOW)
    assert s.status is JobStatus.QUEUED
    assert s.enqueued == NOW and s.scheduled is None


def test_retry_job_counts_against_retries_and_fails_without_any_left() -> None:
    s = decide(started_job(), TOKEN, Outcome.retry_in(5, "RetryJob: later"), NOW)
    assert s.status is JobStatus.FAILED
    assert s.last_job_result is not None
    assert "no retries left" in s.last_job_result


def test_a_failure_not_retryable_by_on_fails_with_retries_left() -> None:
    job = started_job(retry=Retry(max=3, on=(TimeoutError,)))
    s = decide(job, TOKEN, Outcome.failure("KeyError", retryable=False), NOW)
    assert s.status is JobStatus.FAILED
    assert s.retries_left == 3
