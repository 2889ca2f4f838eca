"""Backend.settle: recording attempts under their lease, and what follows from them."""

from __future__ import annotations

from joblane.backends.base import Backend
from joblane.core.job import RESULT_TTL_ZERO_GRACE
from joblane.core.outcome import INTERRUPTED, STOPPED, Outcome, decide
from joblane.core.retry import Retry
from joblane.core.states import JobStatus, Registry
from joblane.testing import ManualClock

from .helpers import FAILURE, SUCCESS, claim, claim_one, enqueue, report


def test_success_finishes_the_job(backend: Backend, clock: ManualClock) -> None:
    job = enqueue(backend, clock, result_ttl=50)
    running = claim_one(backend, clock)
    clock.advance(3)
    assert report(backend, clock, running, SUCCESS)
    now = clock.now()
    assert backend.get(job.id) == running.copy(
        status=JobStatus.FINISHED,
        ended=now,
        result=SUCCESS.result,
        expires_at=now + 50,
        lease_token=None,
        lease_expires=None,
    )
    assert backend.registry_count("normal", Registry.FINISHED) == 1
    assert backend.registry_count("normal", Registry.STARTED) == 0


def test_a_stale_token_is_ignored(backend: Backend, clock: ManualClock) -> None:
    enqueue(backend, clock)
    running = claim_one(backend, clock)
    now = clock.now()
    assert backend.settle([decide(running, "stale", SUCCESS, now)], now) == [False]
    assert backend.get(running.id) == running


def test_an_attempt_is_settled_once(backend: Backend, clock: ManualClock) -> None:
    enqueue(backend, clock)
    running = claim_one(backend, clock)
    assert report(backend, clock, running, FAILURE)
    failed = backend.get(running.id)
    assert not report(backend, clock, running, SUCCESS)
    assert backend.get(running.id) == failed


def test_a_settlement_for_a_job_that_is_not_started_is_ignored(
    backend: Backend, clock: ManualClock
) -> None:
    enqueue(backend, clock)
    running = claim_one(backend, clock)
    assert backend.delete(running.id)
    assert not report(backend, clock, running, SUCCESS)
    assert backend.get(running.id) is None


def test_a_batch_reports_each_settlement(backend: Backend, clock: ManualClock) -> None:
    for _ in range(3):
        enqueue(backend, clock)
    a, b, c = claim(backend, clock)
    assert a.lease_token and b.lease_token and c.lease_token
    now = clock.now()
    flags = backend.settle(
        [
            decide(a, a.lease_token, SUCCESS, now),
            decide(b, "stale", SUCCESS, now),
            decide(c, c.lease_token, FAILURE, now),
        ],
        now,
    )
    assert flags == [True, False, True]
    assert [j.status for j in backend.get_many([a.id, b.id, c.id]) if j] == [
        JobStatus.FINISHED,
        JobStatus.STARTED,
        JobStatus.FAILED,
    ]


def test_a_retry_with_an_interval_waits_as_scheduled(backend: Backend, clock: ManualClock) -> None:
    job = enqueue(backend, clock, retry=Retry(max=2, interval=[10, 20]))
    running = claim_one(backend, clock)
    assert report(backend, clock, running, FAILURE)
    now = clock.now()
    retrying = backend.get(job.id)
    assert retrying == running.copy(
        status=JobStatus.SCHEDULED,
        ended=now,
        last_job_result=FAILURE.error,
        retries_left=1,
        scheduled=now + 10,
        lease_token=None,
        lease_expires=None,
    )
    assert backend.registry_count("normal", Registry.SCHEDULED) == 1
    assert backend.next_due() == now + 10
    assert claim(backend, clock) == []
    clock.advance(10)
    assert backend.promote_due(clock.now()) == 1
    again = claim_one(backend, clock)
    assert (again.id, again.attempts, again.retries_left) == (job.id, 2, 1)


def test_a_retry_without_interval_goes_to_the_back_of_its_queue(
    backend: Backend, clock: ManualClock
) -> None:
    job = enqueue(backend, clock, retry=1)
    other = enqueue(backend, clock)
    running = claim_one(backend, clock)
    assert report(backend, clock, running, FAILURE)
    stored = backend.get(job.id)
    assert stored is not None and stored.status is JobStatus.QUEUED
    assert stored.enqueued == clock.now() and stored.retries_left == 0
    assert [j.id for j in backend.list_queued("normal")] == [other.id, job.id]


def test_a_failure_without_retries_left_fails_the_job(backend: Backend, clock: ManualClock) -> None:
    job = enqueue(backend, clock, failure_ttl=70)
    running = claim_one(backend, clock)
    assert report(backend, clock, running, Outcome.failure("refused", retryable=False))
    now = clock.now()
    failed = backend.get(job.id)
    assert failed is not None
    assert (failed.status, failed.ended, failed.expires_at) == (JobStatus.FAILED, now, now + 70)
    assert failed.last_job_result == "refused" and failed.lease_token is None
    assert backend.list_registry("normal", Registry.FAILED) == [failed]


def test_an_interrupted_attempt_goes_back_first_in_its_queue_uncounted(
    backend: Backend, clock: ManualClock
) -> None:
    job = enqueue(backend, clock)
    other = enqueue(backend, clock)
    running = claim_one(backend, clock)
    assert report(backend, clock, running, INTERRUPTED)
    assert backend.get(job.id) == job.copy(attempts=0, status=JobStatus.QUEUED)
    # It had been first in line: it goes back there, not behind the backlog.
    assert [j.id for j in backend.list_queued("normal")] == [job.id, other.id]


def test_a_stopped_job_is_in_the_canceled_registry(backend: Backend, clock: ManualClock) -> None:
    job = enqueue(backend, clock)
    running = claim_one(backend, clock)
    assert backend.cancel(job.id, clock.now()).cancel_requested
    assert report(backend, clock, running.copy(cancel_requested=True), STOPPED)
    stopped = backend.get(job.id)
    assert stopped is not None
    assert stopped.status is JobStatus.STOPPED and stopped.cancel_requested is False
    assert backend.list_registry("normal", Registry.CANCELED) == [stopped]


def test_result_ttl_zero_keeps_the_outcome_for_a_grace_then_housekeeping_deletes_it(
    backend: Backend, clock: ManualClock
) -> None:
    # Deleted at once, Job.wait() (in any process) could not tell success from failure.
    parent = enqueue(backend, clock, result_ttl=0)
    child = enqueue(backend, clock, "children", depends_on=[parent.id])
    assert report(backend, clock, claim_one(backend, clock), SUCCESS)
    finished = backend.get(parent.id)
    assert finished is not None and finished.status is JobStatus.FINISHED
    assert finished.result == SUCCESS.result
    assert finished.expires_at == clock.now() + RESULT_TTL_ZERO_GRACE
    released = backend.get(child.id)
    assert released is not None and released.status is JobStatus.QUEUED
    clock.advance(RESULT_TTL_ZERO_GRACE - 1)
    assert backend.purge_expired(clock.now()) == 0
    clock.advance(1)
    assert backend.purge_expired(clock.now()) == 1
    assert backend.get(parent.id) is None
    assert backend.registry_count("normal", Registry.FINISHED) == 0


def test_result_ttl_minus_one_keeps_the_job_forever(backend: Backend, clock: ManualClock) -> None:
    job = enqueue(backend, clock, result_ttl=-1)
    assert report(backend, clock, claim_one(backend, clock), SUCCESS)
    kept = backend.get(job.id)
    assert kept is not None and kept.expires_at is None
    clock.advance(10 * 365 * 24 * 3600)
    assert backend.purge_expired(clock.now()) == 0
    assert backend.get(job.id) == kept


def test_a_finished_job_releases_dependents_that_wait_for_nothing_else(
    backend: Backend, clock: ManualClock
) -> None:
    first = enqueue(backend, clock, "a")
    second = enqueue(backend, clock, "b")
    both = enqueue(backend, clock, "children", ttl=30, depends_on=[first.id, second.id])
    only_first = enqueue(backend, clock, "children", depends_on=[first.id])
    clock.advance(5)
    assert report(backend, clock, claim_one(backend, clock, "a"), SUCCESS)
    released = backend.get(only_first.id)
    assert released is not None and released.status is JobStatus.QUEUED
    assert released.enqueued == clock.now()
    waiting = backend.get(both.id)
    assert waiting is not None and waiting.status is JobStatus.DEFERRED
    clock.advance(5)
    assert report(backend, clock, claim_one(backend, clock, "b"), SUCCESS)
    now = clock.now()
    assert backend.get(both.id) == both.copy(
        status=JobStatus.QUEUED, enqueued=now, expires_at=now + 30
    )
    assert [j.id for j in backend.list_queued("children")] == [only_first.id, both.id]


def test_a_failed_job_cancels_its_dependents_recursively(
    backend: Backend, clock: ManualClock
) -> None:
    root = enqueue(backend, clock)
    child = enqueue(backend, clock, "children", depends_on=[root.id], failure_ttl=40)
    grandchild = enqueue(backend, clock, "children", depends_on=[child.id])
    clock.advance(2)
    assert report(backend, clock, claim_one(backend, clock), FAILURE)
    now = clock.now()
    assert backend.get(child.id) == child.copy(
        status=JobStatus.CANCELED, ended=now, expires_at=now + 40
    )
    canceled = backend.get(grandchild.id)
    assert canceled is not None and canceled.status is JobStatus.CANCELED
    assert backend.registry_count("children", Registry.CANCELED) == 2
    assert backend.registry_count("children", Registry.DEFERRED) == 0


def test_a_stopped_job_cancels_its_dependents(backend: Backend, clock: ManualClock) -> None:
    root = enqueue(backend, clock)
    child = enqueue(backend, clock, "children", depends_on=[root.id])
    running = claim_one(backend, clock)
    backend.cancel(root.id, clock.now())
    assert report(backend, clock, running, STOPPED)
    canceled = backend.get(child.id)
    assert canceled is not None and canceled.status is JobStatus.CANCELED


def test_a_retried_job_keeps_its_dependents_waiting(backend: Backend, clock: ManualClock) -> None:
    root = enqueue(backend, clock, retry=Retry(max=1, interval=5))
    child = enqueue(backend, clock, "children", depends_on=[root.id])
    assert report(backend, clock, claim_one(backend, clock), FAILURE)
    waiting = backend.get(child.id)
    assert waiting is not None and waiting.status is JobStatus.DEFERRED
