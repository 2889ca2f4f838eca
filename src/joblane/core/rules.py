"""The rules of a job's life between its runs, each decided here once.

What an attempt's end makes of a job is :func:`joblane.core.outcome.decide`;
everything else a backend does to a job's state is decided by a function
here, which takes ``now`` and returns decided values: the fields a job gets,
what its dependents become, the key a registry is ordered by. Backends persist
those decisions and decide nothing. Where a decision must happen inside one
atomic step of a store (an SQL statement, a Lua script), the backend gets it as
data from the tables here and in :mod:`joblane.core.states` (bound parameters,
a Lua preamble generated from them: ``backends/redis/loader.py``), never as a
rule written again.

The tables are read when used, not copied at import, so that changing one
(:data:`DEPENDENT_OF_FAILED`, say) changes every backend opened afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from joblane.core import states
from joblane.core.job import JobRecord, expiry
from joblane.core.states import JobStatus
from joblane.errors import InvalidStateError

DEPENDENT_OF_FAILED: JobStatus = JobStatus.CANCELED
"""What a deferred job becomes when a job it depends on will never finish
(and a job enqueued with such a dependency): kept for its failure_ttl."""

CANCELED: JobStatus = JobStatus.CANCELED
"""What ``cancel`` makes of a job that has not started (one that has is
stopped by its worker: :func:`joblane.core.outcome.decide`)."""

DEPENDENCY_DONE: JobStatus = JobStatus.FINISHED
"""A dependency in this status (or gone) no longer holds its dependents back."""

REGISTRY_TIME_FIELDS: tuple[str, ...] = ("ended", "started", "scheduled", "enqueued", "created")
"""A registry lists oldest first by the first of these JobRecord fields that is
set (a scheduled job: by its due time), ties by id: :func:`registry_sort_key`."""


class Dependents(StrEnum):
    """What happens to the deferred dependents of a job that reached a status."""

    RELEASE = "release"
    """Each is queued if every job it depends on is done (:func:`released`)."""
    CANCEL = "cancel"
    """Each becomes :data:`DEPENDENT_OF_FAILED`, and theirs, recursively."""


@dataclass(frozen=True, slots=True)
class Entry:
    """A job entering its queue (released, due, requeued): status queued."""

    enqueued: float
    expires_at: float | None


@dataclass(frozen=True, slots=True)
class Ending:
    """A job that has not started, ended (canceled, or its dependency failed)."""

    status: JobStatus
    ended: float
    expires_at: float | None


# -- dependencies ------------------------------------------------------------


def on_parent_ended(status: JobStatus) -> Dependents | None:
    """What the deferred dependents of a job that reached *status* become
    (None: they keep waiting)."""
    if status is DEPENDENCY_DONE:
        return Dependents.RELEASE
    if status in states.DEPENDENCY_FAILED_STATUSES:
        return Dependents.CANCEL
    return None


def released(dependencies: Sequence[JobStatus | None]) -> bool:
    """Whether a deferred job whose dependencies are in these statuses (None:
    gone) goes to its queue."""
    return all(dep is None or dep is DEPENDENCY_DONE for dep in dependencies)


def dependent_of_failed(job: JobRecord, now: float) -> Ending:
    """A waiting job whose dependency will never finish, at *now*."""
    return Ending(DEPENDENT_OF_FAILED, now, expiry(now, job.failure_ttl))


def on_enqueue(job: JobRecord, dependencies: Sequence[JobStatus | None]) -> JobRecord:
    """The job as stored, given the statuses of its ``depends_on`` jobs (None:
    in this batch, not stored yet): *job* itself, or a deferred copy while one
    is not done, or an ended one (:func:`dependent_of_failed`, at its
    creation) if one will never finish."""
    if not job.depends_on or job.status is not JobStatus.QUEUED:
        return job
    if any(on_parent_ended(d) is Dependents.CANCEL for d in dependencies if d is not None):
        ending = dependent_of_failed(job, job.created)
        return job.copy(status=ending.status, ended=ending.ended, expires_at=ending.expires_at)
    if not released(dependencies):
        return job.copy(status=JobStatus.DEFERRED, enqueued=None, expires_at=None)
    return job


# -- entering a queue --------------------------------------------------------


TTL_FROM_QUEUE_ENTRY = True
"""A queued job's ``ttl`` counts from when it enters its queue (its enqueue, a
release, a promotion, a requeue); False would count it from its creation."""


def queue_expiry(now: float, ttl: int | None, created: float) -> float | None:
    """When a job created at *created* that enters its queue at *now* expires
    (None or 0 ttl: never); see :data:`TTL_FROM_QUEUE_ENTRY`."""
    if not ttl:
        return None
    return (now if TTL_FROM_QUEUE_ENTRY else created) + ttl


def queue_entry(now: float, ttl: int | None, created: float) -> Entry:
    """A job with this *ttl*, created at *created*, entering its queue at *now*
    (a deferred job released, a scheduled job due, an ended job requeued)."""
    return Entry(now, queue_expiry(now, ttl, created))


# -- managing ----------------------------------------------------------------


def cancel(job: JobRecord, now: float) -> Ending | None:
    """Cancel *job* at *now*: its ending, or None for a started job (its
    worker is asked to stop it). Raises InvalidStateError for an ended job."""
    if job.status in states.CANCELABLE_STATUSES:
        return Ending(CANCELED, now, expiry(now, job.failure_ttl))
    if job.status is JobStatus.STARTED:
        return None
    raise cancel_refused(job.id, job.status)


def cancel_refused(job_id: str, status: JobStatus | str) -> InvalidStateError:
    return InvalidStateError(f"job {job_id!r} is {status}; it cannot be canceled")


def requeue(job: JobRecord, now: float) -> Entry:
    """Put an ended *job* back on its queue at *now* (its result, lease, worker,
    start, end and ``lost_attempts`` are cleared). Raises InvalidStateError."""
    if job.status not in states.REQUEUEABLE_STATUSES:
        raise requeue_refused(job.id, job.status)
    return queue_entry(now, job.ttl, job.created)


def requeue_refused(job_id: str, status: JobStatus | str) -> InvalidStateError:
    names = [s.value for s in JobStatus if s in states.REQUEUEABLE_STATUSES]
    allowed = f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else names[0]
    return InvalidStateError(f"job {job_id!r} is {status}; only {allowed} jobs can be requeued")


# -- registries --------------------------------------------------------------


def registry_time(job: JobRecord) -> float:
    """When *job* entered its current state, as its registry orders it."""
    if job.status is JobStatus.SCHEDULED and job.scheduled is not None:
        return job.scheduled
    for name in REGISTRY_TIME_FIELDS:
        value: float | None = getattr(job, name)
        if value is not None:
            return value
    return job.created


def registry_sort_key(job: JobRecord) -> tuple[float, str]:
    """Oldest first: by the time the job entered its current state, ties by id."""
    return (registry_time(job), job.id)
