"""One corrupt record costs only itself: claims, recovery and reads go on past it.

The records are broken with plain sqlite3 / redis-py writes (tests/corruption.py),
each backend in the ways its format can be broken. The memory backend holds
Python objects, nothing to decode: these tests run on the persistent backends.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from joblane.backends.base import Backend, WorkerInfo
from joblane.core.job import DEFAULT_FAILURE_TTL, JobRecord
from joblane.core.outcome import Outcome, decide
from joblane.core.states import JobStatus, Registry
from joblane.testing import ManualClock
from joblane.worker.sidetasks import recover_expired
from tests.corruption import Corrupter

from .helpers import LEASE, SUCCESS, claim, claim_one, enqueue, report

pytestmark = pytest.mark.requires(persistent=True)


@pytest.fixture
def corrupter(backend: Backend) -> Iterator[Corrupter]:
    corrupter = Corrupter(backend.url)
    yield corrupter
    corrupter.close()


def ids(jobs: list[JobRecord]) -> list[str]:
    return [job.id for job in jobs]


def assert_failed_as_corrupt(backend: Backend, job_id: str, field: str, now: float) -> None:
    stored = backend.get(job_id)
    assert stored is not None
    assert stored.status is JobStatus.FAILED, (field, stored)
    reason = stored.last_job_result or ""
    assert reason.startswith(f"CorruptRecordError: field {field!r} of job {job_id!r}: "), reason
    assert (stored.ended, stored.expires_at) == (now, now + DEFAULT_FAILURE_TTL)
    assert (stored.lease_token, stored.lease_expires) == (None, None)


def test_a_claim_takes_every_job_but_the_corrupt_ones(
    backend: Backend, clock: ManualClock, corrupter: Corrupter
) -> None:
    good, bad = [], {}
    for field in corrupter.bad:
        good.append(enqueue(backend, clock))
        job = enqueue(backend, clock)
        corrupter.break_field(job.id, field)
        bad[field] = job.id
    good.append(enqueue(backend, clock))
    now = clock.now()
    assert ids(claim(backend, clock, limit=100)) == ids(good)
    for field, job_id in bad.items():
        assert_failed_as_corrupt(backend, job_id, field, now)
    failed = backend.list_registry("normal", Registry.FAILED)
    assert sorted(ids(failed)) == sorted(bad.values())
    assert backend.count("normal") == 0
    assert backend.registry_count("normal", Registry.STARTED) == len(good)


def test_claims_of_one_job_each_drain_the_queue_past_corrupt_jobs(
    backend: Backend, clock: ManualClock, corrupter: Corrupter
) -> None:
    jobs = [enqueue(backend, clock) for _ in range(6)]
    # Fields that every persistent backend's format can break (PostgreSQL's
    # typed columns hold no bad job_timeout).
    for job, field in zip(jobs[::2], ("meta", "retry_intervals", "payload"), strict=True):
        corrupter.break_field(job.id, field)
    taken: list[JobRecord] = []
    for _ in range(len(jobs)):  # a claim that met a corrupt job may take none
        taken += claim(backend, clock, limit=1)
    assert ids(taken) == ids(jobs[1::2])
    assert backend.count("normal") == 0


def test_a_corrupt_job_of_one_queue_does_not_hold_up_the_next(
    backend: Backend, clock: ManualClock, corrupter: Corrupter
) -> None:
    first = enqueue(backend, clock, "important")
    corrupter.break_field(first.id, "meta")
    second = enqueue(backend, clock, "normal")
    assert ids(claim(backend, clock, ("important", "normal"))) == [second.id]


def test_a_claim_still_applies_its_settlements(
    backend: Backend, clock: ManualClock, corrupter: Corrupter
) -> None:
    enqueue(backend, clock)
    running = claim_one(backend, clock)
    job = enqueue(backend, clock)
    corrupter.break_field(job.id, "retry_intervals")
    assert running.lease_token is not None
    done = decide(running, running.lease_token, SUCCESS, clock.now())
    flags, jobs = backend.claim(
        ["normal"], worker="w", limit=5, lease_seconds=LEASE, now=clock.now(), settle=[done]
    )
    assert (flags, jobs) == ([True], [])
    finished = backend.get(running.id)
    assert finished is not None and finished.status is JobStatus.FINISHED
    assert_failed_as_corrupt(backend, job.id, "retry_intervals", clock.now())


def test_reads_mark_a_corrupt_job_undecodable(
    backend: Backend, clock: ManualClock, corrupter: Corrupter
) -> None:
    before = enqueue(backend, clock)
    job = enqueue(backend, clock)
    after = enqueue(backend, clock)
    corrupter.break_field(job.id, "meta")
    read = backend.get(job.id)
    assert read is not None
    assert (read.undecodable or "").startswith(f"field 'meta' of job {job.id!r}: ")
    # What decoded is kept; the bad field has its default.
    assert read == job.copy(undecodable=read.undecodable)
    assert backend.get_many([before.id, job.id, after.id]) == [before, read, after]
    assert backend.list_queued("normal") == [before, read, after]
    claimed = claim(backend, clock)
    assert ids(claimed) == [before.id, after.id]
    [failed] = backend.list_registry("normal", Registry.FAILED)
    assert failed.id == job.id and failed.undecodable == read.undecodable


def test_cancel_and_requeue_of_a_corrupt_job(
    backend: Backend, clock: ManualClock, corrupter: Corrupter
) -> None:
    job = enqueue(backend, clock)
    corrupter.break_field(job.id, "meta")
    canceled = backend.cancel(job.id, clock.now())
    assert canceled.status is JobStatus.CANCELED and canceled.undecodable
    requeued = backend.requeue(job.id, clock.now())
    assert requeued.status is JobStatus.QUEUED and requeued.undecodable
    assert claim(backend, clock) == []
    assert_failed_as_corrupt(backend, job.id, "meta", clock.now())


def test_a_corrupt_dependent_does_not_stop_the_settle_of_its_dependency(
    backend: Backend, clock: ManualClock, corrupter: Corrupter
) -> None:
    blocker = enqueue(backend, clock, "blockers")
    dependent = enqueue(backend, clock, depends_on=[blocker.id])
    assert dependent.status is JobStatus.DEFERRED
    corrupter.break_field(dependent.id, "depends_on")
    assert report(backend, clock, claim_one(backend, clock, "blockers"), SUCCESS)
    # Released (its dependency list cannot be read), then failed by the claim.
    assert claim(backend, clock) == []
    assert_failed_as_corrupt(backend, dependent.id, "depends_on", clock.now())


def test_a_corrupt_dependent_is_canceled_when_its_dependency_fails(
    backend: Backend, clock: ManualClock, corrupter: Corrupter
) -> None:
    blocker = enqueue(backend, clock, "blockers")
    dependent = enqueue(backend, clock, depends_on=[blocker.id])
    corrupter.set(dependent.id, "failure_ttl", "a year" if corrupter.sqlite else b"a year")
    failing = claim_one(backend, clock, "blockers")
    assert report(backend, clock, failing, Outcome.failure("boom", retryable=False))
    stored = backend.get(dependent.id)
    assert stored is not None and stored.status is JobStatus.CANCELED
    assert stored.expires_at == clock.now() + DEFAULT_FAILURE_TTL


def test_lost_lease_recovery_goes_on_past_a_corrupt_job(
    backend: Backend, clock: ManualClock, corrupter: Corrupter
) -> None:
    jobs = [enqueue(backend, clock) for _ in range(3)]
    claimed = claim(backend, clock)
    assert ids(claimed) == ids(jobs)
    corrupter.break_field(jobs[0].id, "meta")
    corrupter.set(jobs[1].id, "lease_token", None)  # cannot be settled by anyone
    clock.advance(LEASE + 1)
    expired = {job.id: job for job in backend.expired_leases(clock.now())}
    assert expired.keys() == {jobs[0].id, jobs[2].id}
    assert expired[jobs[0].id].undecodable and not expired[jobs[2].id].undecodable
    assert recover_expired(backend, clock.now()) == 2
    for job in (jobs[0], jobs[2]):  # lost with their worker: first in line again
        stored = backend.get(job.id)
        assert stored is not None and stored.status is JobStatus.QUEUED
        assert "WorkerLostError" in (stored.last_job_result or "")
    # At its next claim the corrupt one fails, naming its field; the other runs.
    assert ids(claim(backend, clock)) == [jobs[2].id]
    failed = backend.get(jobs[0].id)
    assert failed is not None and failed.status is JobStatus.FAILED
    assert "CorruptRecordError: field 'meta'" in (failed.last_job_result or "")


def test_a_worker_registration_that_does_not_decode_is_skipped(
    backend: Backend, clock: ManualClock, corrupter: Corrupter
) -> None:
    now = clock.now()
    for name in ("w-bad", "w-good"):
        info = WorkerInfo(name, "host", 1, ("normal",), 2, now, now, now + 60)
        backend.register_worker(info)
    corrupter.break_worker("w-bad")
    assert [w.name for w in backend.workers()] == ["w-good"]
