"""Hand-off (backends/redis/handoff.py): a job enqueued while a worker is
parked reaches that worker without a claim, and no job is lost or run twice
whatever happens to the worker meanwhile."""

from __future__ import annotations

import signal
import time
from datetime import timedelta

import pytest

from joblane import JobStatus, Queue
from joblane.backends.base import HandOffOps
from joblane.backends.redis import RedisBackend
from joblane.backends.redis import from_url as redis_from_url
from joblane.backends.redis.handoff import PARK_SECONDS, split_entry
from joblane.core.job import JobRecord
from joblane.core.outcome import Outcome, Start, decide
from joblane.testing import ManualClock
from joblane.worker.sidetasks import recover_expired
from tests.jobs import sample
from tests.worker.conftest import WorkerProcesses, wait_until

LEASE = 30.0


def park(
    backend: RedisBackend, worker: str, now: float, queues: tuple[str, ...] = ("normal",)
) -> None:
    """A claim of *worker*'s that finds nothing for its idle slot: it parks."""
    _, jobs = backend.claim(
        list(queues), worker=worker, limit=1, lease_seconds=LEASE, now=now, starting=1
    )
    assert jobs == []


def accept_and_park(
    backend: RedisBackend, worker: str, now: float, queues: tuple[str, ...] = ("normal",)
) -> None:
    """*worker* takes hand-offs, and is parked by a claim that found nothing."""
    backend.accept_handoffs(worker, lease_seconds=LEASE)
    park(backend, worker, now, queues)


@pytest.fixture
def w1(clocked_backend: RedisBackend, clock: ManualClock) -> RedisBackend:
    """*clocked_backend* with worker "w1" taking hand-offs, parked on "normal"."""
    accept_and_park(clocked_backend, "w1", clock.now())
    return clocked_backend


def fcalls(backend: RedisBackend) -> int:
    stats = backend._conn.client.info("commandstats")
    return int(stats.get("cmdstat_fcall", {}).get("calls", 0))


def parked(backend: RedisBackend) -> dict[bytes, bytes]:
    return backend._conn.client.hgetall(backend.prefix + "parked")  # type: ignore[return-value]


def test_the_redis_backend_offers_handoffs(redis_backend: RedisBackend) -> None:
    assert isinstance(redis_backend, HandOffOps)


def test_a_job_enqueued_for_a_parked_worker_reaches_it_without_a_claim(
    w1: RedisBackend, clock: ManualClock
) -> None:
    b = w1
    assert parked(b) == {b"w1": b"30.0 normal"}
    job = Queue("normal", backend=b).enqueue(sample.add, 1, 2)

    stored = b.get(job.id)
    assert stored is not None
    assert stored.status is JobStatus.STARTED  # leased by its enqueue
    assert stored.worker_name == "w1"
    assert stored.started is None  # recorded when a slot begins it
    assert stored.attempts == 1
    assert stored.lease_expires == clock.now() + LEASE
    assert b.count("normal") == 0
    assert parked(b) == {}  # one parked worker takes one job

    assert b.wait_for_change(5)
    before = fcalls(b)
    _, jobs = b.claim(["normal"], worker="w1", limit=1, lease_seconds=LEASE, now=clock.now())
    assert fcalls(b) == before  # no round trip: the job came with the BLPOP's reply
    assert [j.id for j in jobs] == [job.id]
    assert jobs[0] == b.get(job.id)  # the entry says what the hash holds
    token = jobs[0].lease_token
    assert token is not None and token.startswith("h")
    settled = decide(jobs[0], token, Outcome.success(b"3"), clock.now())
    assert b.settle([settled], clock.now()) == [True]
    done = b.get(job.id)
    assert done is not None and done.status is JobStatus.FINISHED and done.result == b"3"


def test_the_next_job_goes_on_its_queue_once_the_parked_worker_took_one(
    clocked_backend: RedisBackend, clock: ManualClock
) -> None:
    b = clocked_backend
    b.accept_handoffs("w1", lease_seconds=LEASE)
    b.accept_handoffs("w2", lease_seconds=LEASE)
    park(b, "w1", clock.now())
    park(b, "w2", clock.now())
    q = Queue("normal", backend=b)
    first, second, third = (q.enqueue(sample.add, i, i) for i in range(3))
    holders = [b.get(j.id).worker_name for j in (first, second)]  # type: ignore[union-attr]
    assert sorted(holders) == ["w1", "w2"]  # type: ignore[type-var]
    assert b.get(third.id).status is JobStatus.QUEUED  # type: ignore[union-attr]
    assert b.count("normal") == 1


def test_a_lower_queue_job_is_not_handed_while_a_higher_queue_holds_one(
    clocked_backend: RedisBackend, clock: ManualClock
) -> None:
    b = clocked_backend
    accept_and_park(b, "w1", clock.now(), ("high", "low"))
    # A job reaches "high" without an enqueue (a scheduled job come due): no hand-off.
    scheduled = Queue("high", backend=b).enqueue_in(timedelta(seconds=1), sample.add, 0, 0)
    clock.advance(2)
    assert b.promote_due(clock.now()) == 1
    assert b.get(scheduled.id).status is JobStatus.QUEUED  # type: ignore[union-attr]

    low = Queue("low", backend=b).enqueue(sample.add, 1, 1)
    assert b.get(low.id).status is JobStatus.QUEUED  # type: ignore[union-attr]
    assert b"w1" in parked(b)  # still waiting: its claim takes "high" first
    _, jobs = b.claim(["high", "low"], worker="w1", limit=1, lease_seconds=LEASE,
                          now=clock.now())  # fmt: skip
    assert [j.id for j in jobs] == [scheduled.id]


def test_a_job_of_the_worker_s_highest_queue_is_handed_whatever_waits_below(
    clocked_backend: RedisBackend, clock: ManualClock
) -> None:
    b = clocked_backend
    accept_and_park(b, "w1", clock.now(), ("high", "low"))
    job = Queue("high", backend=b).enqueue(sample.add, 1, 1)
    assert b.get(job.id).worker_name == "w1"  # type: ignore[union-attr]


def test_a_lapsed_parking_hands_nothing(w1: RedisBackend, clock: ManualClock) -> None:
    b = w1
    clock.advance(PARK_SECONDS + 0.5)  # the worker stopped claiming: frozen or dead
    job = Queue("normal", backend=b).enqueue(sample.add, 1, 1)
    assert b.get(job.id).status is JobStatus.QUEUED  # type: ignore[union-attr]


def test_a_claim_ends_the_parking(w1: RedisBackend, clock: ManualClock) -> None:
    b = w1
    q = Queue("normal", backend=b)
    waiting = q.enqueue(sample.add, 1, 1)  # handed
    b.claim(["normal"], worker="w1", limit=1, lease_seconds=LEASE, now=clock.now())
    # A claim that took a job (the handed one) does not park again.
    assert parked(b) == {}
    assert b.get(q.enqueue(sample.add, 2, 2).id).status is JobStatus.QUEUED  # type: ignore[union-attr]
    assert b.get(waiting.id).worker_name == "w1"  # type: ignore[union-attr]


def test_no_parking_without_an_idle_slot(clocked_backend: RedisBackend, clock: ManualClock) -> None:
    b = clocked_backend
    b.accept_handoffs("w1", lease_seconds=LEASE)
    b.claim(["normal"], worker="w1", limit=1, lease_seconds=LEASE, now=clock.now(), starting=0)
    assert parked(b) == {}


def test_a_worker_that_does_not_take_handoffs_is_never_parked(
    clocked_backend: RedisBackend, clock: ManualClock
) -> None:
    b = clocked_backend
    park(b, "w1", clock.now())
    assert parked(b) == {}
    job = Queue("normal", backend=b).enqueue(sample.add, 1, 1)
    assert b.get(job.id).status is JobStatus.QUEUED  # type: ignore[union-attr]


def test_end_handoffs_returns_what_was_handed_and_hands_no_more(
    w1: RedisBackend, clock: ManualClock
) -> None:
    b = w1
    q = Queue("normal", backend=b)
    handed = q.enqueue(sample.add, 1, 1)
    returned = b.end_handoffs("w1", clock.now())
    assert [j.id for j in returned] == [handed.id]
    assert returned[0].lease_token is not None
    assert parked(b) == {}
    assert not b._conn.client.exists(b.keys.inbox("w1"))  # the marker did not stay
    later = q.enqueue(sample.add, 2, 2)
    assert b.get(later.id).status is JobStatus.QUEUED  # type: ignore[union-attr]
    # The stopping worker gives the handed job back (as Worker._shut_down does).
    from joblane.core.outcome import INTERRUPTED

    back = decide(returned[0], returned[0].lease_token, INTERRUPTED, clock.now())
    assert b.settle([back], clock.now()) == [True]
    again = b.get(handed.id)
    assert again is not None and again.status is JobStatus.QUEUED and again.attempts == 0


def test_a_claim_reads_the_inbox_when_the_blpop_is_gone(
    w1: RedisBackend, clock: ManualClock
) -> None:
    b = w1
    b._inboxes["w1"].close_quietly()  # its connection dropped: nobody waits on the list
    job = Queue("normal", backend=b).enqueue(sample.add, 1, 1)
    assert b._conn.client.llen(b.keys.inbox("w1")) == 1
    got: list[str] = []
    for _ in range(3):  # the claim, or the BLPOP it sends again first, has it
        got += [j.id for j in b.claim(["normal"], worker="w1", limit=1, lease_seconds=LEASE,
                                      now=clock.now())[1]]  # fmt: skip
        b.wait_for_change(0.2)
    assert got == [job.id]
    assert b._conn.client.llen(b.keys.inbox("w1")) == 0


def test_a_job_handed_to_a_worker_that_died_before_beginning_it_is_given_back_uncounted(
    db_url: str, clock: ManualClock
) -> None:
    dead = redis_from_url(db_url, clock=clock)
    accept_and_park(dead, "dead", clock.now())
    dead.close()  # killed: its BLPOP went with its connection
    b = redis_from_url(db_url, clock=clock)
    try:
        job = Queue("normal", backend=b).enqueue(sample.add, 1, 1)
        assert b.get(job.id).worker_name == "dead"  # type: ignore[union-attr]
        clock.advance(LEASE + 1)
        assert recover_expired(b, clock.now()) == 1
        back = b.get(job.id)
        assert back is not None and back.status is JobStatus.QUEUED
        assert (back.attempts, back.lost_attempts, back.started) == (0, 0, None)
        assert b.count("normal") == 1
    finally:
        b.close()


def test_a_job_begun_by_a_worker_that_then_died_is_recovered_as_lost(
    db_url: str, clock: ManualClock
) -> None:
    dead = redis_from_url(db_url, clock=clock)
    accept_and_park(dead, "dead", clock.now())
    b = redis_from_url(db_url, clock=clock)
    try:
        job = Queue("normal", backend=b).enqueue(sample.add, 1, 1)
        assert dead.wait_for_change(5)
        _, (held,) = dead.claim(["normal"], worker="dead", limit=1, lease_seconds=LEASE,
                                now=clock.now())  # fmt: skip
        # A slot began it: the worker records the start (Worker._note_starts).
        assert held.lease_token is not None
        dead.settle([], clock.now(), [Start(held.id, held.lease_token, clock.now())])
        dead.close()
        clock.advance(LEASE + 1)
        assert recover_expired(b, clock.now()) == 1
        back = b.get(job.id)
        assert back is not None and back.status is JobStatus.QUEUED
        assert back.lost_attempts == 1  # counted, as any begun job of a dead worker
    finally:
        b.close()


def test_split_entry_reads_netstrings() -> None:
    assert split_entry(b"2:ab0:3:x:y") == [b"ab", b"", b"x:y"]
    with pytest.raises(ValueError, match="cut short"):
        split_entry(b"5:ab")


@pytest.mark.slow
def test_a_real_worker_parks_runs_handed_jobs_and_unparks_when_stopped(
    backend: RedisBackend, workers: WorkerProcesses
) -> None:
    worker = workers.start("--concurrency", "1")
    wait_until(lambda: len(parked(backend)) == 1, what="the idle worker parks")
    q = Queue("normal", backend=backend)
    ids = []
    for i in range(20):
        ids.append(q.enqueue(sample.add, i, 1).id)
        time.sleep(0.02)

    def ran() -> list[JobRecord | None]:
        return [backend.get(i) for i in ids]

    wait_until(lambda: all(j and j.status is JobStatus.FINISHED for j in ran()), what="all ran")
    assert [(j.result, j.attempts) for j in ran() if j] == [
        (str(i + 1).encode(), 1) for i in range(20)
    ]
    wait_until(lambda: len(parked(backend)) == 1, what="idle again, parked again")
    worker.send_signal(signal.SIGTERM)
    worker.wait(30)
    assert parked(backend) == {}


@pytest.mark.slow
def test_a_job_handed_to_a_killed_worker_runs_once_elsewhere_uncounted(
    backend: RedisBackend, workers: WorkerProcesses
) -> None:
    victim = workers.start("--concurrency", "1", "--lease", "1", "--queues", "victims")
    wait_until(lambda: len(parked(backend)) == 1, what="the idle worker parks")
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    # Within its parking's lapse, the dead worker is handed the job.
    job = Queue("victims", backend=backend).enqueue(sample.add, 2, 3)
    stored = backend.get(job.id)
    assert stored is not None and stored.status is JobStatus.STARTED
    workers.start("--concurrency", "1", "--lease", "1", "--queues", "victims")

    def done() -> JobRecord | None:
        return backend.get(job.id)

    wait_until(lambda: (j := done()) is not None and j.status is JobStatus.FINISHED,
               what="the job recovered and run")  # fmt: skip
    record = done()
    assert record is not None and record.result == b"5"
    assert (record.attempts, record.lost_attempts) == (1, 0)


def test_a_job_does_not_overtake_jobs_already_waiting_on_its_queue(
    w1: RedisBackend, clock: ManualClock
) -> None:
    b = w1
    q = Queue("normal", backend=b)
    first, second = q.enqueue_many(  # a batch goes on the queue, handed to no one
        [Queue.prepare_data(sample.add, (1, 1)), Queue.prepare_data(sample.add, (2, 2))]
    )
    third = q.enqueue(sample.add, 3, 3)
    assert b.get(third.id).status is JobStatus.QUEUED  # type: ignore[union-attr]
    assert b"w1" in parked(b)
    _, jobs = b.claim(["normal"], worker="w1", limit=3, lease_seconds=LEASE, now=clock.now())
    assert [j.id for j in jobs] == [first.id, second.id, third.id]


def test_a_claim_carrying_a_handed_job_to_the_last_idle_slot_does_not_park(
    w1: RedisBackend, clock: ManualClock
) -> None:
    b = w1
    handed = Queue("normal", backend=b).enqueue(sample.add, 1, 1)
    assert b.wait_for_change(5)
    # A start to record sends the claim to Redis; the handed job fills the one idle slot.
    _, jobs = b.claim(["normal"], worker="w1", limit=1, lease_seconds=LEASE, now=clock.now(),
                      starting=1, starts=[Start("other", "token", clock.now())])  # fmt: skip
    assert [j.id for j in jobs] == [handed.id]
    assert parked(b) == {}
    later = Queue("normal", backend=b).enqueue(sample.add, 2, 2)
    assert b.get(later.id).status is JobStatus.QUEUED  # type: ignore[union-attr]


def test_a_handed_job_with_a_ttl_and_meta_reads_the_same_from_its_entry_and_its_hash(
    w1: RedisBackend, clock: ManualClock
) -> None:
    b = w1
    job = Queue("normal", backend=b).enqueue(
        sample.add, 1, 2, ttl=600, meta={"k": "v"}, job_timeout=7.5
    )
    assert b.wait_for_change(5)
    _, jobs = b.claim(["normal"], worker="w1", limit=1, lease_seconds=LEASE, now=clock.now())
    stored = b.get(job.id)
    assert jobs == [stored]
    assert stored is not None and stored.expires_at is None and stored.attempts == 1
    assert stored.meta == {"k": "v"} and stored.job_timeout == 7.5
