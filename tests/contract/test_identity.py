"""JobRecord.enqueued_by (who enqueued a job) round-trips on every backend,
through every step of a job's life."""

from __future__ import annotations

from joblane.backends.base import Backend
from joblane.core.identity import Identity
from joblane.core.job import JobOptions, JobRecord, new_job
from joblane.core.outcome import Outcome
from joblane.core.states import JobStatus, Registry
from joblane.testing import ManualClock

from .helpers import FAILURE, FUNC, SUCCESS, claim_one, report

ALICE = Identity("alïce@example.org", {"site": "/Plone/fr", "tenant": 7, "ratio": 0.5,
                                       "admin": False, "note": None})  # fmt: skip


def make(clock: ManualClock, by: Identity | None, **options: object) -> JobRecord:
    return new_job("normal", FUNC, [], {}, JobOptions(**options), now=clock.now(),  # type: ignore[arg-type]
                   enqueued_by=by)  # fmt: skip


def test_the_enqueuer_round_trips_exactly(backend: Backend, clock: ManualClock) -> None:
    with_by = make(clock, ALICE, meta={"k": 1})
    without = make(clock, None)
    assert backend.enqueue([with_by, without]) == [with_by, without]
    stored, plain = backend.get_many([with_by.id, without.id])
    assert stored == with_by and plain == without
    assert stored is not None and stored.enqueued_by == ALICE
    assert type(stored.enqueued_by.context["tenant"]) is int
    assert plain is not None and plain.enqueued_by is None
    assert backend.list_queued("normal") == [with_by, without]


def test_the_enqueuer_stays_with_the_job_through_claim_retry_and_end(
    backend: Backend, clock: ManualClock
) -> None:
    job = backend.enqueue([make(clock, ALICE, retry=1)])[0]
    claimed = claim_one(backend, clock)
    assert claimed.enqueued_by == ALICE
    assert report(backend, clock, claimed, FAILURE)  # retried: queued again
    again = claim_one(backend, clock)
    assert again.id == job.id and again.attempts == 2 and again.enqueued_by == ALICE
    assert report(backend, clock, again, FAILURE)  # no retry left: failed
    (ended,) = backend.list_registry("normal", Registry.FAILED)
    assert ended.status is JobStatus.FAILED and ended.enqueued_by == ALICE
    requeued = backend.requeue(job.id, clock.now())
    assert requeued.enqueued_by == ALICE
    last = claim_one(backend, clock)
    assert last.enqueued_by == ALICE and report(backend, clock, last, SUCCESS)


def test_a_replaced_job_takes_the_new_enqueuer(backend: Backend, clock: ManualClock) -> None:
    first = backend.enqueue([make(clock, ALICE, job_id="same")])[0]
    claimed = claim_one(backend, clock)
    assert report(backend, clock, claimed, Outcome.success(b"1"))
    replacement = backend.enqueue([make(clock, None, job_id=first.id)])[0]
    stored = backend.get(replacement.id)
    assert stored is not None and stored.enqueued_by is None
