"""Backend.claim: priority, order, ttl, leases, and never the same job twice."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from joblane.backends.base import Backend
from joblane.core.job import JobRecord
from joblane.core.outcome import INTERRUPTED, decide
from joblane.core.retry import Retry
from joblane.core.states import JobStatus
from joblane.testing import ManualClock

from .conftest import Store
from .helpers import FAILURE, LEASE, SUCCESS, claim, claim_one, enqueue, make_job, report


def ids(jobs: list[JobRecord]) -> list[str]:
    return [job.id for job in jobs]


def test_claim_takes_all_of_a_queue_before_any_of_the_next(
    backend: Backend, clock: ManualClock
) -> None:
    low = [enqueue(backend, clock, "low") for _ in range(3)]  # older than the important ones
    clock.advance(1)
    important = [enqueue(backend, clock, "important") for _ in range(3)]
    taken = claim(backend, clock, ("important", "normal", "low"), limit=4)
    assert ids(taken) == ids(important) + ids(low[:1])
    assert ids(claim(backend, clock, ("important", "low"), limit=10)) == ids(low[1:])


def test_claim_is_fifo_within_a_queue(backend: Backend, clock: ManualClock) -> None:
    jobs = [enqueue(backend, clock) for _ in range(5)]
    assert ids(claim(backend, clock, limit=2)) == ids(jobs[:2])
    assert ids(claim(backend, clock, limit=10)) == ids(jobs[2:])


def test_at_front_jobs_come_first_the_latest_first(backend: Backend, clock: ManualClock) -> None:
    a, b = enqueue(backend, clock), enqueue(backend, clock)
    front1 = enqueue(backend, clock, at_front=True)
    c = enqueue(backend, clock)
    front2 = enqueue(backend, clock, at_front=True)
    expected = [front2, front1, a, b, c]
    assert ids(backend.list_queued("normal")) == ids(expected)
    assert ids(claim(backend, clock)) == ids(expected)


def test_queued_jobs_past_their_ttl_are_skipped(backend: Backend, clock: ManualClock) -> None:
    stale = enqueue(backend, clock, ttl=10)
    clock.advance(5)
    fresh = enqueue(backend, clock, ttl=10)
    later = enqueue(backend, clock)
    clock.advance(6)  # stale expired (at 10 s); fresh has 4 s left
    assert ids(claim(backend, clock)) == [fresh.id, later.id]
    assert ids(backend.list_queued("normal")) == [stale.id]  # left for purge_expired


def test_claim_honours_the_limit(backend: Backend, clock: ManualClock) -> None:
    for queue in ("a", "b"):
        for _ in range(3):
            enqueue(backend, clock, queue)
    assert len(claim(backend, clock, ("a", "b"), limit=5)) == 5
    assert len(claim(backend, clock, ("a", "b"), limit=5)) == 1
    assert claim(backend, clock, ("a", "b"), limit=5) == []


def test_a_limit_of_zero_claims_nothing(backend: Backend, clock: ManualClock) -> None:
    enqueue(backend, clock)
    assert claim(backend, clock, limit=0) == []
    assert backend.count("normal") == 1


def test_claim_of_empty_or_unknown_queues_takes_nothing(
    backend: Backend, clock: ManualClock
) -> None:
    assert claim(backend, clock, ("nothing", "here")) == []


def test_a_repeated_queue_name_does_not_take_a_job_twice(
    backend: Backend, clock: ManualClock
) -> None:
    jobs = [enqueue(backend, clock) for _ in range(3)]
    assert ids(claim(backend, clock, ("normal", "normal"), limit=10)) == ids(jobs)


def test_a_claimed_job_is_started_under_a_new_lease(backend: Backend, clock: ManualClock) -> None:
    job = enqueue(backend, clock, ttl=100)
    clock.advance(2)
    now = clock.now()
    _, [taken] = backend.claim(["normal"], worker="w-7", limit=1, lease_seconds=45, now=now)
    assert taken.lease_token
    expected = job.copy(
        status=JobStatus.STARTED,
        started=now,
        attempts=1,
        worker_name="w-7",
        lease_token=taken.lease_token,
        lease_expires=now + 45,
        expires_at=None,
    )
    assert taken == expected
    assert backend.get(job.id) == expected
    assert backend.count("normal") == 0


def test_each_attempt_gets_its_own_token(backend: Backend, clock: ManualClock) -> None:
    enqueue(backend, clock)
    enqueue(backend, clock)
    taken = claim(backend, clock)
    assert len({job.lease_token for job in taken}) == 2
    assert report(backend, clock, taken[0], INTERRUPTED)  # back on its queue
    again = claim_one(backend, clock)
    assert again.id == taken[0].id and again.lease_token != taken[0].lease_token


def test_claim_applies_settlements_first(backend: Backend, clock: ManualClock) -> None:
    first = enqueue(backend, clock)
    child = enqueue(backend, clock, depends_on=[first.id])
    running = claim_one(backend, clock)
    assert running.lease_token is not None
    now = clock.now()
    done = decide(running, running.lease_token, SUCCESS, now)
    stale = decide(running, "not-the-token", SUCCESS, now)
    flags, taken = backend.claim(
        ["normal"], worker="w", limit=5, lease_seconds=LEASE, now=now, settle=[done, stale]
    )
    assert flags == [True, False]
    assert ids(taken) == [child.id]  # released by the settlement, then claimed
    finished = backend.get(first.id)
    assert finished is not None and finished.status is JobStatus.FINISHED


def test_two_claims_never_take_the_same_job(backend: Backend, clock: ManualClock) -> None:
    for _ in range(10):
        enqueue(backend, clock)
    first = claim(backend, clock, limit=6, worker="a")
    second = claim(backend, clock, limit=6, worker="b")
    assert len(first) == 6 and len(second) == 4
    assert not set(ids(first)) & set(ids(second))


def _claim_concurrently(peers: list[Backend], clock: ManualClock, total: int) -> Counter[str]:
    """Each peer in its own thread claims (3 at a time) until the queue is dry."""
    counts: Counter[str] = Counter()
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(len(peers))

    def work(backend: Backend, name: str) -> None:
        try:
            start.wait()
            while True:
                _, jobs = backend.claim(
                    ["important", "normal"],
                    worker=name,
                    limit=3,
                    lease_seconds=LEASE,
                    now=clock.now(),
                )
                if not jobs:
                    return
                with lock:
                    counts.update(job.id for job in jobs)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(peer, f"w{i}")) for i, peer in enumerate(peers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return counts


def _fill(backend: Backend, clock: ManualClock, total: int) -> set[str]:
    jobs = [make_job(clock, "important" if i % 3 else "normal", i) for i in range(total)]
    backend.enqueue(jobs)
    return {job.id for job in jobs}


def test_threads_sharing_one_instance_claim_each_job_once(store: Store, clock: ManualClock) -> None:
    backend = store.open()
    expected = _fill(backend, clock, 300)
    counts = _claim_concurrently([backend] * 4, clock, 300)
    assert set(counts) == expected
    assert set(counts.values()) == {1}


@pytest.mark.requires(shared_between_processes=True)
def test_separate_instances_claim_each_job_once(store: Store, clock: ManualClock) -> None:
    peers = store.peers(4)
    expected = _fill(peers[0], clock, 300)
    counts = _claim_concurrently(peers, clock, 300)
    assert set(counts) == expected
    assert set(counts.values()) == {1}


def test_a_retried_job_claimed_again_has_no_end_time(backend: Backend, clock: ManualClock) -> None:
    enqueue(backend, clock, retry=Retry(max=1))
    first = claim_one(backend, clock)
    clock.advance(1)
    assert report(backend, clock, first, FAILURE)  # retried at once: queued again
    again = claim_one(backend, clock)
    assert again.id == first.id and again.attempts == 2
    assert again.ended is None
    assert again.started == clock.now()
