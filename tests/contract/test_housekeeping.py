"""Scheduled jobs, expiry, leases: promote_due, next_due, purge_expired,
expired_leases, renew."""

from __future__ import annotations

import threading

import pytest

from joblane.backends.base import Backend
from joblane.core.outcome import Outcome, decide, worker_lost_error
from joblane.core.states import JobStatus
from joblane.testing import ManualClock

from .conftest import Store
from .helpers import FAILURE, LEASE, SUCCESS, claim, claim_one, drive_to, enqueue, make_job, report


def test_promote_due_queues_the_due_jobs(backend: Backend, clock: ManualClock) -> None:
    start = clock.now()
    soon = enqueue(backend, clock, scheduled=start + 10, ttl=60)
    later = enqueue(backend, clock, "other", scheduled=start + 20)
    waiting = enqueue(backend, clock)
    clock.advance(15)
    now = clock.now()
    assert backend.promote_due(now) == 1
    assert backend.get(soon.id) == soon.copy(
        status=JobStatus.QUEUED, enqueued=now, expires_at=now + 60
    )
    assert [j.id for j in backend.list_queued("normal")] == [waiting.id, soon.id]
    stored = backend.get(later.id)
    assert stored is not None and stored.status is JobStatus.SCHEDULED
    assert backend.promote_due(now) == 0


def test_promote_due_counts_a_job_due_exactly_now(backend: Backend, clock: ManualClock) -> None:
    enqueue(backend, clock, scheduled=clock.now() + 10)
    assert backend.promote_due(clock.now() + 9.999) == 0
    assert backend.promote_due(clock.now() + 10) == 1


def test_promote_due_takes_the_earliest_first_up_to_the_limit(
    backend: Backend, clock: ManualClock
) -> None:
    start = clock.now()
    jobs = [enqueue(backend, clock, scheduled=start + 50 - i) for i in range(5)]
    assert backend.promote_due(start + 100, limit=2) == 2
    assert [j.id for j in backend.list_queued("normal")] == [jobs[4].id, jobs[3].id]
    assert backend.promote_due(start + 100) == 3


def test_a_promoted_at_front_job_goes_to_the_front(backend: Backend, clock: ManualClock) -> None:
    waiting = enqueue(backend, clock)
    urgent = enqueue(backend, clock, scheduled=clock.now() + 5, at_front=True)
    assert backend.promote_due(clock.now() + 5) == 1
    assert [j.id for j in backend.list_queued("normal")] == [urgent.id, waiting.id]


def test_racing_callers_promote_each_job_once(store: Store, clock: ManualClock) -> None:
    peers = store.peers(4)
    due = clock.now() + 1
    peers[0].enqueue([make_job(clock, "normal", i, scheduled=due) for i in range(200)])
    promoted: list[int] = []
    start = threading.Barrier(len(peers))

    def promote(backend: Backend) -> None:
        start.wait()
        while count := backend.promote_due(due, limit=7):
            promoted.append(count)

    threads = [threading.Thread(target=promote, args=(peer,)) for peer in peers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(promoted) == 200
    assert peers[0].count("normal") == 200
    assert len({j.id for j in peers[0].list_queued("normal", 0, 500)}) == 200


def test_next_due_is_the_earliest_scheduled_time(backend: Backend, clock: ManualClock) -> None:
    assert backend.next_due() is None
    start = clock.now()
    enqueue(backend, clock, scheduled=start + 30)
    first = enqueue(backend, clock, scheduled=start + 20)
    assert backend.next_due() == start + 20
    backend.cancel(first.id, start)
    assert backend.next_due() == start + 30


def test_purge_deletes_ended_jobs_past_their_ttl(backend: Backend, clock: ManualClock) -> None:
    finished = drive_to(backend, clock, JobStatus.FINISHED, result_ttl=10)
    failed = drive_to(backend, clock, JobStatus.FAILED, failure_ttl=20)
    canceled = drive_to(backend, clock, JobStatus.CANCELED, failure_ttl=20)
    clock.advance(10)
    assert backend.purge_expired(clock.now() - 0.001) == 0
    assert backend.purge_expired(clock.now()) == 1
    assert backend.get(finished.id) is None
    clock.advance(10)
    assert backend.purge_expired(clock.now()) == 2
    assert backend.get_many([failed.id, canceled.id]) == [None, None]


def test_purge_deletes_queued_jobs_past_their_ttl(backend: Backend, clock: ManualClock) -> None:
    stale = enqueue(backend, clock, ttl=10)
    kept = enqueue(backend, clock)
    clock.advance(10)
    assert backend.purge_expired(clock.now()) == 1
    assert backend.get(stale.id) is None
    assert [j.id for j in backend.list_queued("normal")] == [kept.id]


def test_purge_never_deletes_a_started_job(backend: Backend, clock: ManualClock) -> None:
    job = enqueue(backend, clock, ttl=10)
    claim_one(backend, clock)
    clock.advance(10_000)
    assert backend.purge_expired(clock.now()) == 0
    stored = backend.get(job.id)
    assert stored is not None and stored.status is JobStatus.STARTED


def test_purge_honours_its_limit(backend: Backend, clock: ManualClock) -> None:
    backend.enqueue([make_job(clock, ttl=1) for _ in range(5)])
    clock.advance(1)
    assert backend.purge_expired(clock.now(), limit=3) == 3
    assert backend.purge_expired(clock.now(), limit=3) == 2
    assert backend.count("normal") == 0


@pytest.mark.parametrize("removal", ["purge", "delete"])
def test_a_removed_dependent_is_forgotten_by_its_dependency(
    backend: Backend, clock: ManualClock, removal: str
) -> None:
    parent = enqueue(backend, clock)
    dependent = enqueue(backend, clock, "children", job_id="child", depends_on=[parent.id])
    if removal == "purge":
        backend.cancel(dependent.id, clock.now())
        clock.advance(dependent.failure_ttl)
        assert backend.purge_expired(clock.now()) == 1
    else:
        assert backend.delete(dependent.id)
    # A new job with the same id waits for another job, which then disappears:
    # the parent finishing must not release it (it never waited for the parent).
    blocker = enqueue(backend, clock, "blockers")
    enqueue(backend, clock, "children", job_id="child", depends_on=[blocker.id])
    assert backend.delete(blocker.id)
    assert report(backend, clock, claim_one(backend, clock), SUCCESS)
    child = backend.get("child")
    assert child is not None and child.status is JobStatus.DEFERRED


def test_expired_leases_are_the_lapsed_started_jobs(backend: Backend, clock: ManualClock) -> None:
    first = enqueue(backend, clock)
    clock.advance(5)
    second = enqueue(backend, clock)
    claim(backend, clock, limit=1)
    clock.advance(5)
    claim(backend, clock, limit=1)
    assert backend.expired_leases(clock.now()) == []
    clock.advance(LEASE)  # the first lease lapsed 5 s ago, the second lapses now
    lapsed = backend.expired_leases(clock.now())
    assert [j.id for j in lapsed] == [first.id]
    clock.advance(1)
    assert [j.id for j in backend.expired_leases(clock.now())] == [first.id, second.id]
    assert [j.id for j in backend.expired_leases(clock.now(), limit=1)] == [first.id]


def test_two_recovering_workers_settle_a_lapsed_job_once(store: Store, clock: ManualClock) -> None:
    one, two = store.peers(2)
    enqueue(one, clock)
    claim_one(one, clock)
    clock.advance(LEASE + 1)
    lost = Outcome.failure(worker_lost_error("the worker stopped heartbeating"))
    now = clock.now()
    [seen_by_one] = one.expired_leases(now)
    [seen_by_two] = two.expired_leases(now)
    token = seen_by_one.lease_token
    assert token is not None and token == seen_by_two.lease_token
    assert one.settle([decide(seen_by_one, token, lost, now)], now) == [True]
    assert two.settle([decide(seen_by_two, token, lost, now)], now) == [False]
    assert one.expired_leases(now) == []


def test_renew_extends_the_leases_still_held(backend: Backend, clock: ManualClock) -> None:
    enqueue(backend, clock)
    enqueue(backend, clock)
    held, done = claim(backend, clock)
    assert held.lease_token and done.lease_token
    assert report(backend, clock, done, SUCCESS)
    clock.advance(20)
    now = clock.now()
    result = backend.renew(
        [(held.id, held.lease_token), (done.id, done.lease_token), ("gone", "x")],
        lease_seconds=60,
        now=now,
    )
    assert result.lost == [done.id, "gone"]
    assert result.cancel_requested == []
    assert backend.get(held.id) == held.copy(lease_expires=now + 60)
    clock.advance(LEASE)
    assert backend.expired_leases(clock.now()) == []


def test_renew_reports_a_stale_token_as_lost(backend: Backend, clock: ManualClock) -> None:
    enqueue(backend, clock)
    held = claim_one(backend, clock)
    result = backend.renew([(held.id, "stale")], lease_seconds=60, now=clock.now())
    assert result.lost == [held.id]
    assert backend.get(held.id) == held


def test_renew_surfaces_a_cancel_request(backend: Backend, clock: ManualClock) -> None:
    enqueue(backend, clock)
    held = claim_one(backend, clock)
    assert held.lease_token
    backend.cancel(held.id, clock.now())
    result = backend.renew([(held.id, held.lease_token)], lease_seconds=60, now=clock.now())
    assert (result.lost, result.cancel_requested) == ([], [held.id])


@pytest.mark.parametrize("outcome", [SUCCESS, FAILURE], ids=["finished", "failed"])
def test_a_settled_job_has_no_lease_to_lapse(
    backend: Backend, clock: ManualClock, outcome: Outcome
) -> None:
    enqueue(backend, clock)
    assert report(backend, clock, claim_one(backend, clock), outcome)
    clock.advance(LEASE * 10)
    assert backend.expired_leases(clock.now()) == []
