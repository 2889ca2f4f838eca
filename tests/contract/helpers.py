"""Building jobs and driving them through their states, for the contract tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from joblane.backends.base import Backend
from joblane.core.job import JobOptions, JobRecord, new_job
from joblane.core.outcome import STOPPED, Outcome, decide
from joblane.core.states import JobStatus
from joblane.testing import ManualClock

FUNC = "tests.contract.tasks.work"
LEASE = 30.0


def make_job(
    clock: ManualClock,
    queue: str = "normal",
    *args: Any,
    scheduled: float | None = None,
    **options: Any,
) -> JobRecord:
    """A job as the client builds it, ``now`` being the clock's."""
    return new_job(queue, FUNC, list(args), {}, JobOptions(**options), now=clock.now(),
                   scheduled=scheduled)  # fmt: skip


def enqueue(
    backend: Backend, clock: ManualClock, queue: str = "normal", **options: Any
) -> JobRecord:
    return backend.enqueue([make_job(clock, queue, **options)])[0]


def claim(
    backend: Backend,
    clock: ManualClock,
    queues: Sequence[str] = ("normal",),
    limit: int = 100,
    worker: str = "worker-1",
) -> list[JobRecord]:
    _, jobs = backend.claim(
        queues, worker=worker, limit=limit, lease_seconds=LEASE, now=clock.now()
    )
    return jobs


def claim_one(backend: Backend, clock: ManualClock, queue: str = "normal") -> JobRecord:
    jobs = claim(backend, clock, (queue,), limit=1)
    assert len(jobs) == 1, f"no job to claim in {queue!r}"
    return jobs[0]


def report(backend: Backend, clock: ManualClock, job: JobRecord, outcome: Outcome) -> bool:
    """Settle the attempt that *job* (as claimed) holds."""
    assert job.lease_token is not None
    now = clock.now()
    return backend.settle([decide(job, job.lease_token, outcome, now)], now)[0]


SUCCESS = Outcome.success(b'{"ok": true}')
FAILURE = Outcome.failure("Traceback ...\nValueError: boom")


def drive_to(
    backend: Backend, clock: ManualClock, status: JobStatus, queue: str = "normal", **options: Any
) -> JobRecord:
    """A new job of *queue* brought to *status* through the contract (*queue*
    must hold no other queued job)."""
    if status is JobStatus.SCHEDULED:
        return enqueue(backend, clock, queue, scheduled=clock.now() + 3600, **options)
    if status is JobStatus.DEFERRED:
        blocker = enqueue(backend, clock, "blockers")
        return enqueue(backend, clock, queue, depends_on=[blocker.id], **options)
    job = enqueue(backend, clock, queue, **options)
    if status is JobStatus.QUEUED:
        return job
    if status is JobStatus.CANCELED:
        return backend.cancel(job.id, clock.now())
    claimed = claim_one(backend, clock, queue)
    assert claimed.id == job.id
    if status is JobStatus.STARTED:
        return claimed
    outcomes = {
        JobStatus.FINISHED: SUCCESS,
        JobStatus.FAILED: FAILURE,
        JobStatus.STOPPED: STOPPED,
    }
    assert report(backend, clock, claimed, outcomes[status])
    stored = backend.get(job.id)
    assert stored is not None and stored.status is status
    return stored
