"""Jobs claimed ahead of their start, starts recorded later, and jobs whose worker
died: claim(starting=...), Start, Settlement.started / lost_attempts / front, and
the reaper (recover_expired) deciding on what the backend recorded."""

from __future__ import annotations

from joblane.backends.base import Backend
from joblane.core.outcome import Outcome, Start, decide, worker_lost_error
from joblane.core.states import JobStatus
from joblane.testing import ManualClock
from joblane.worker.sidetasks import recover_expired

from .helpers import LEASE, SUCCESS, claim_one, enqueue, report

LOST = Outcome.lost(worker_lost_error("the job's process killed by SIGKILL"))


def claim_starting(
    backend: Backend, clock: ManualClock, limit: int, starting: int | None
) -> list[str]:
    _, jobs = backend.claim(
        ["normal"], worker="w", limit=limit, lease_seconds=LEASE, now=clock.now(),
        starting=starting,
    )  # fmt: skip
    return [j.id for j in jobs]


def started_of(backend: Backend, job_id: str) -> float | None:
    job = backend.get(job_id)
    assert job is not None
    return job.started


def test_claim_starts_only_the_first_starting_jobs(backend: Backend, clock: ManualClock) -> None:
    ids = [enqueue(backend, clock).id for _ in range(4)]
    now = clock.now()
    _, jobs = backend.claim(
        ["normal"], worker="w", limit=4, lease_seconds=LEASE, now=now, starting=1
    )
    assert [j.id for j in jobs] == ids
    assert [j.started for j in jobs] == [now, None, None, None]
    assert [started_of(backend, i) for i in ids] == [now, None, None, None]
    assert all(j.status is JobStatus.STARTED and j.attempts == 1 for j in jobs)


def test_claim_starts_every_job_by_default(backend: Backend, clock: ManualClock) -> None:
    ids = [enqueue(backend, clock).id for _ in range(3)]
    claim_starting(backend, clock, 3, None)
    assert [started_of(backend, i) for i in ids] == [clock.now()] * 3


def test_a_start_is_recorded_once_under_its_token(backend: Backend, clock: ManualClock) -> None:
    enqueue(backend, clock)
    enqueue(backend, clock)
    _, (a, b) = backend.claim(
        ["normal"], worker="w", limit=2, lease_seconds=LEASE, now=clock.now(), starting=0
    )
    assert a.lease_token and b.lease_token
    t1 = clock.now() + 0.25
    # A stale token changes nothing; the right one records the start.
    backend.settle([], t1, [Start(a.id, "stale", t1), Start(b.id, b.lease_token, t1)])
    assert (started_of(backend, a.id), started_of(backend, b.id)) == (None, t1)
    # A start already recorded stands; a start rides along with a claim too.
    _, more = backend.claim(
        ["normal"], worker="w", limit=1, lease_seconds=LEASE, now=t1 + 1,
        starts=[Start(a.id, a.lease_token, t1 + 1), Start(b.id, b.lease_token, t1 + 1)],
    )  # fmt: skip
    assert more == []
    assert (started_of(backend, a.id), started_of(backend, b.id)) == (t1 + 1, t1)


def test_a_settlement_records_the_start_the_backend_missed(
    backend: Backend, clock: ManualClock
) -> None:
    job = enqueue(backend, clock)
    _, [claimed] = backend.claim(
        ["normal"], worker="w", limit=1, lease_seconds=LEASE, now=clock.now(), starting=0
    )
    began = clock.now() + 1
    clock.advance(2)
    assert report(backend, clock, claimed.copy(started=began), SUCCESS)
    done = backend.get(job.id)
    assert done is not None
    assert (done.status, done.started, done.ended) == (JobStatus.FINISHED, began, clock.now())


def test_lost_attempts_are_stored_and_reset_by_requeue(
    backend: Backend, clock: ManualClock
) -> None:
    job = enqueue(backend, clock)
    running = claim_one(backend, clock)
    assert report(backend, clock, running, LOST)
    again = backend.get(job.id)
    assert again is not None
    assert (again.status, again.lost_attempts, again.attempts) == (JobStatus.QUEUED, 1, 1)
    assert again.last_job_result == LOST.error
    running = claim_one(backend, clock)
    assert running.lost_attempts == 1 and running.attempts == 2
    assert report(backend, clock, running, Outcome.failure("boom"))
    failed = backend.get(job.id)
    assert failed is not None and failed.lost_attempts == 1
    requeued = backend.requeue(job.id, clock.now())
    assert requeued.lost_attempts == 0
    stored = backend.get(job.id)
    assert stored is not None and stored.lost_attempts == 0


def test_a_lost_job_goes_first_in_its_queue(backend: Backend, clock: ManualClock) -> None:
    job = enqueue(backend, clock)
    backlog = [enqueue(backend, clock).id for _ in range(3)]
    running = claim_one(backend, clock)
    assert report(backend, clock, running, LOST)
    assert [j.id for j in backend.list_queued("normal")] == [job.id, *backlog]


def test_reaper_gives_back_a_job_that_never_began(backend: Backend, clock: ManualClock) -> None:
    first = enqueue(backend, clock)
    clock.advance(1)
    second = enqueue(backend, clock)
    clock.advance(1)
    backlog = enqueue(backend, clock)
    # A batch of two: the first begins at once, the second waits in the worker.
    claim_starting(backend, clock, 2, 1)
    clock.advance(LEASE + 1)  # the worker died
    assert recover_expired(backend, clock.now()) == 2
    begun, waiting = backend.get(first.id), backend.get(second.id)
    assert begun is not None and waiting is not None
    # The one that began was lost with its worker: run again, the loss counted.
    assert (begun.status, begun.attempts, begun.lost_attempts) == (JobStatus.QUEUED, 1, 1)
    assert begun.last_job_result is not None and "stopped renewing" in begun.last_job_result
    # The one that never began is given back as it was: nothing counted.
    assert (waiting.status, waiting.attempts, waiting.lost_attempts) == (JobStatus.QUEUED, 0, 0)
    assert waiting.last_job_result is None
    # Both first in line, in the order they had, ahead of the backlog.
    assert [j.id for j in backend.list_queued("normal")] == [first.id, second.id, backlog.id]


def test_reaper_fails_a_job_lost_max_lost_times(backend: Backend, clock: ManualClock) -> None:
    job = enqueue(backend, clock, retry=5)
    for lost in (1, 2, 3):
        running = claim_one(backend, clock)
        assert running.attempts == lost
        clock.advance(LEASE + 1)
        assert recover_expired(backend, clock.now(), max_lost=3) == 1
        stored = backend.get(job.id)
        assert stored is not None and stored.lost_attempts == lost
    assert stored is not None and stored.status is JobStatus.FAILED
    assert stored.retries_left == 5  # the retry budget is for the job's own failures
    assert stored.last_job_result is not None
    assert "lost 3 times (max_lost=3)" in stored.last_job_result


def test_the_first_recorded_outcome_wins(backend: Backend, clock: ManualClock) -> None:
    job = enqueue(backend, clock)
    running = claim_one(backend, clock)
    assert running.lease_token is not None
    assert backend.cancel(job.id, clock.now()).cancel_requested
    now = clock.now()
    finished = decide(running, running.lease_token, SUCCESS, now)
    stopped = decide(running.copy(cancel_requested=True), running.lease_token, LOST, now)
    assert backend.settle([finished, stopped], now) == [True, False]
    stored = backend.get(job.id)
    assert stored is not None and stored.status is JobStatus.FINISHED
