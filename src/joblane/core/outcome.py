"""What happened to an attempt, and what the job becomes because of it.

:func:`decide` is the single place that decides a job's next state after a
run: finished, retried (through the scheduled registry), failed for good,
stopped, or put back on its queue. Backends only persist the decision.

Two budgets bound how often a job runs again:

* ``retries_left`` (the job's :class:`~joblane.core.retry.Retry`) for attempts
  that failed by the job's own doing: an exception, a timeout;
* ``max_lost`` (the worker's, default :data:`DEFAULT_MAX_LOST`) for attempts
  lost with their process: the worker or the job's slot killed (``kill -9``,
  the OOM killer, a segfault). Such a job did nothing wrong as far as anyone
  knows, so it runs again, first in its queue, whatever its retry policy;
  only a job lost ``max_lost`` times (one that kills its own worker) fails.

A job that was claimed but had not started when its worker died (it waited
in the worker's batch) is given back: first in its queue, the attempt not
counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from joblane.core import rules
from joblane.core.job import JobRecord, expiry, result_expiry
from joblane.core.retry import retry_delay
from joblane.core.states import JobStatus

# The reasons recorded (as the first line of last_job_result) when a job did
# not fail by raising an exception of its own.
JOB_TIMEOUT = "JobTimeoutError"
WORKER_LOST = "WorkerLostError"
FUNCTION_NOT_ALLOWED = "FunctionNotAllowedError"
FUNCTION_IMPORT = "FunctionImportError"
UNKNOWN_TASK = "UnknownTaskError"
PAYLOAD_DECODE = "PayloadDecodeError"
RESULT_NOT_SERIALIZABLE = "ResultSerializationError"
IDENTITY_NOT_RESTORED = "IdentityError"
JOB_SIGNATURE = "JobSignatureError"
HOOK_FAILED = "HookError"


class OutcomeKind(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    """An exception, a timeout, a lost worker, a refused function: counts as an attempt."""
    STOPPED = "stopped"
    """Canceled while it ran."""
    INTERRUPTED = "interrupted"
    """The worker shut down under it, or it never started: first in its queue
    again, the attempt not counted."""
    LOST = "lost"
    """Its process died under it (the worker or its slot): run again first in
    its queue, up to ``max_lost`` times, then failed."""


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: OutcomeKind
    result: bytes | None = None
    error: str | None = None
    """Traceback or reason text, recorded as last_job_result."""
    retryable: bool = True
    """False for errors that a retry cannot fix (function not allowed, bad payload),
    or an exception that the job's ``Retry.on`` does not list."""
    defer: float | None = None
    """Seconds to the retry the job asked for (:class:`~joblane.core.retry.RetryJob`)."""

    @classmethod
    def success(cls, result: bytes) -> Outcome:
        return cls(OutcomeKind.SUCCEEDED, result=result)

    @classmethod
    def failure(cls, error: str, *, retryable: bool = True) -> Outcome:
        return cls(OutcomeKind.FAILED, error=error, retryable=retryable)

    @classmethod
    def retry_in(cls, defer: float, error: str) -> Outcome:
        """The job raised RetryJob(defer): a retry *defer* seconds from now."""
        return cls(OutcomeKind.FAILED, error=error, defer=defer)

    @classmethod
    def lost(cls, error: str) -> Outcome:
        return cls(OutcomeKind.LOST, error=error)


STOPPED = Outcome(OutcomeKind.STOPPED, error="stopped: the job was canceled while it ran")
INTERRUPTED = Outcome(OutcomeKind.INTERRUPTED)


def timeout_error(seconds: float, *, killed: bool = True, cancelled: bool = False) -> str:
    """The reason of a timed-out attempt; *killed* is False where the job could
    not be stopped (a thread slot): it runs on, and its outcome is discarded;
    *cancelled*: a job of a slot running several at once, stopped alone."""
    over = f"{JOB_TIMEOUT}: the job ran longer than its job_timeout of {seconds:g} s"
    if cancelled:
        return f"{over} and was cancelled (asyncio.CancelledError)"
    if killed:
        return f"{over} and was killed"
    return (
        f"{over}; it runs in a thread, which cannot be stopped, so it was abandoned "
        "(it may still be running, and its outcome will be discarded)"
    )


def worker_lost_error(detail: str) -> str:
    return f"{WORKER_LOST}: {detail}"


DEFAULT_MAX_LOST = 3
"""A job lost with its process this many times fails (see the module docstring)."""


@dataclass(frozen=True, slots=True)
class Start:
    """A claimed job began running at *started*: recorded by the backend if the
    job is still started under *token* and its start is not recorded yet."""

    job_id: str
    token: str
    started: float


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
    started: float | None = None
    """When the attempt began, if the backend may not know it yet (a job claimed
    ahead of its start); recorded unless the job goes back to its queue."""
    lost_attempts: int = 0
    front: bool = False
    """Put back on its queue first in line (it had been first already), not last."""
    queue: str | None = None
    """The job's queue, as claimed (a job never changes queue), if known: a
    backend that keeps counts per queue need not read it back."""

    @property
    def failed_for_good(self) -> bool:
        """Dependents of this job are canceled (it will not finish):
        :func:`joblane.core.rules.on_parent_ended` decides."""
        return rules.on_parent_ended(self.status) is rules.Dependents.CANCEL


def decide(
    job: JobRecord, token: str, outcome: Outcome, now: float, *, max_lost: int = DEFAULT_MAX_LOST
) -> Settlement:
    """Decide the job's next state after the attempt that holds *token*."""
    kind = outcome.kind
    if kind is OutcomeKind.LOST and job.started is None:
        kind = OutcomeKind.INTERRUPTED  # claimed ahead, never started: nothing was lost
    if kind is OutcomeKind.INTERRUPTED:
        # The attempt is given back: the job did not get its chance to run.
        attempts = max(job.attempts - 1, 0)
        return _requeue(job, token, attempts, job.lost_attempts, job.last_job_result)
    if kind is OutcomeKind.LOST:
        lost = job.lost_attempts + 1
        if lost < max_lost:
            return _requeue(job, token, job.attempts, lost, outcome.error)
        reason = (
            f"{outcome.error}; the job's process was lost {lost} times "
            f"(max_lost={max_lost}), so it fails rather than run again"
        )
        return _ended(job, token, JobStatus.FAILED, now, error=reason, lost=lost)
    if kind is OutcomeKind.SUCCEEDED:
        return Settlement(
            job.id, token, JobStatus.FINISHED, ended=now, result=outcome.result,
            last_job_result=job.last_job_result, retries_left=job.retries_left,
            attempts=job.attempts, scheduled=job.scheduled, enqueued=job.enqueued,
            expires_at=result_expiry(now, job.result_ttl),
            started=job.started, lost_attempts=job.lost_attempts, queue=job.queue,
        )  # fmt: skip
    if kind is OutcomeKind.STOPPED:
        return _ended(job, token, JobStatus.STOPPED, now, error=outcome.error)
    if outcome.defer is not None:
        if job.retries_left > 0:
            return _retry(job, token, now, outcome.defer, outcome.error)
        reason = f"{outcome.error}; but the job has no retries left, so it fails"
        return _ended(job, token, JobStatus.FAILED, now, error=reason)
    if outcome.retryable and job.retries_left > 0:
        # The n-th attempt failed: wait the n-th interval before the next one.
        delay = retry_delay(job.retry_intervals, max(job.attempts, 1))
        return _retry(job, token, now, delay, outcome.error)
    return _ended(job, token, JobStatus.FAILED, now, error=outcome.error)


def _retry(job: JobRecord, token: str, now: float, delay: float, error: str | None) -> Settlement:
    """Run again after *delay* seconds (scheduled), or at once (queued, last in line)."""
    return Settlement(
        job.id, token, JobStatus.SCHEDULED if delay > 0 else JobStatus.QUEUED,
        ended=now, result=None, last_job_result=error,
        retries_left=job.retries_left - 1, attempts=job.attempts,
        scheduled=now + delay if delay > 0 else None,
        enqueued=job.enqueued if delay > 0 else now, expires_at=None,
        started=job.started, lost_attempts=job.lost_attempts, queue=job.queue,
    )  # fmt: skip


def _requeue(
    job: JobRecord, token: str, attempts: int, lost: int, reason: str | None
) -> Settlement:
    """Back on its queue, first in line (it was first in line already)."""
    return Settlement(
        job.id, token, JobStatus.QUEUED, ended=None, result=None,
        last_job_result=reason, retries_left=job.retries_left,
        attempts=attempts, scheduled=job.scheduled, enqueued=job.enqueued,
        expires_at=None, lost_attempts=lost, front=True, queue=job.queue,
    )  # fmt: skip


def _ended(
    job: JobRecord, token: str, status: JobStatus, now: float, *, error: str | None,
    lost: int | None = None,
) -> Settlement:  # fmt: skip
    """Failed or stopped for good: kept for the job's failure TTL."""
    return Settlement(
        job.id, token, status, ended=now, result=None, last_job_result=error,
        retries_left=job.retries_left, attempts=job.attempts, scheduled=job.scheduled,
        enqueued=job.enqueued, expires_at=expiry(now, job.failure_ttl), started=job.started,
        lost_attempts=job.lost_attempts if lost is None else lost, queue=job.queue,
    )  # fmt: skip
