"""What happened to an attempt, and what the job becomes because of it.

:func:`settle` is the single place that decides a job's next state after a
run: finished, retried (through the scheduled registry), failed for good,
stopped, or put back on its queue. Backends only persist the decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from joblane.core.job import JobRecord, expiry
from joblane.core.retry import retry_delay
from joblane.core.states import JobStatus

# The reasons recorded (as the first line of last_job_result) when a job did
# not fail by raising an exception of its own.
JOB_TIMEOUT = "JobTimeoutError"
WORKER_LOST = "WorkerLostError"
FUNCTION_NOT_ALLOWED = "FunctionNotAllowedError"
FUNCTION_IMPORT = "FunctionImportError"
PAYLOAD_DECODE = "PayloadDecodeError"
RESULT_NOT_SERIALIZABLE = "ResultSerializationError"


class OutcomeKind(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    """An exception, a timeout, a lost worker, a refused function: counts as an attempt."""
    STOPPED = "stopped"
    """Canceled while it ran."""
    INTERRUPTED = "interrupted"
    """The worker shut down under it: back on its queue, the attempt not counted."""


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: OutcomeKind
    result: bytes | None = None
    error: str | None = None
    """Traceback or reason text, recorded as last_job_result."""
    retryable: bool = True
    """False for errors that a retry cannot fix (function not allowed, bad payload)."""

    @classmethod
    def success(cls, result: bytes) -> Outcome:
        return cls(OutcomeKind.SUCCEEDED, result=result)

    @classmethod
    def failure(cls, error: str, *, retryable: bool = True) -> Outcome:
        return cls(OutcomeKind.FAILED, error=error, retryable=retryable)


STOPPED = Outcome(OutcomeKind.STOPPED, error="stopped: the job was canceled while it ran")
INTERRUPTED = Outcome(OutcomeKind.INTERRUPTED)


def timeout_error(seconds: float) -> str:
    return f"{JOB_TIMEOUT}: the job ran longer than its job_timeout of {seconds:g} s and was killed"


def worker_lost_error(detail: str) -> str:
    return f"{WORKER_LOST}: {detail}"


@dataclass(frozen=True, slots=True)
class Settlement:
    """The decided end of one attempt, applied by ``Backend.settle`` if the
    lease *token* is still the job's current one."""

    job_id: str
    token: str
    status: JobStatus
    ended: float | None
    result: bytes | None
    last_job_result: str | None
    retries_left: int
    attempts: int
    scheduled: float | None
    enqueued: float | None
    expires_at: float | None
    delete: bool = False
    """True when result_ttl is 0: the finished job is not kept."""

    @property
    def failed_for_good(self) -> bool:
        """Dependents of this job are canceled (it will not finish)."""
        return self.status in (JobStatus.FAILED, JobStatus.STOPPED)


def settle(job: JobRecord, token: str, outcome: Outcome, now: float) -> Settlement:
    """Decide the job's next state after the attempt that holds *token*."""
    kind = outcome.kind
    if kind is OutcomeKind.SUCCEEDED:
        return Settlement(
            job.id, token, JobStatus.FINISHED, ended=now, result=outcome.result,
            last_job_result=job.last_job_result, retries_left=job.retries_left,
            attempts=job.attempts, scheduled=job.scheduled, enqueued=job.enqueued,
            expires_at=expiry(now, job.result_ttl), delete=job.result_ttl == 0,
        )  # fmt: skip
    if kind is OutcomeKind.INTERRUPTED:
        # The attempt is given back: the job did not get its chance to run.
        return Settlement(
            job.id, token, JobStatus.QUEUED, ended=None, result=None,
            last_job_result=job.last_job_result, retries_left=job.retries_left,
            attempts=max(job.attempts - 1, 0), scheduled=job.scheduled, enqueued=job.enqueued,
            expires_at=None,
        )  # fmt: skip
    if kind is OutcomeKind.STOPPED:
        return Settlement(
            job.id, token, JobStatus.STOPPED, ended=now, result=None,
            last_job_result=outcome.error, retries_left=job.retries_left,
            attempts=job.attempts, scheduled=job.scheduled, enqueued=job.enqueued,
            expires_at=expiry(now, job.failure_ttl),
        )  # fmt: skip
    if outcome.retryable and job.retries_left > 0:
        # The n-th attempt failed: wait the n-th interval before the next one.
        delay = retry_delay(job.retry_intervals, max(job.attempts, 1))
        return Settlement(
            job.id, token, JobStatus.SCHEDULED if delay > 0 else JobStatus.QUEUED,
            ended=now, result=None, last_job_result=outcome.error,
            retries_left=job.retries_left - 1, attempts=job.attempts,
            scheduled=now + delay if delay > 0 else None,
            enqueued=job.enqueued if delay > 0 else now, expires_at=None,
        )  # fmt: skip
    return Settlement(
        job.id, token, JobStatus.FAILED, ended=now, result=None,
        last_job_result=outcome.error, retries_left=job.retries_left,
        attempts=job.attempts, scheduled=job.scheduled, enqueued=job.enqueued,
        expires_at=expiry(now, job.failure_ttl),
    )  # fmt: skip
