"""The rules of a job's life between its runs (joblane.core.rules)."""

from __future__ import annotations

import pytest

from joblane.core import rules
from joblane.core.job import JobOptions, JobRecord, new_job
from joblane.core.rules import Dependents, Ending, Entry
from joblane.core.states import JobStatus
from joblane.errors import InvalidStateError

NOW = 1_000.0


def job(status: JobStatus = JobStatus.QUEUED, **options: object) -> JobRecord:
    record = new_job("q", "tasks.f", [], {}, JobOptions(**options), now=NOW)  # type: ignore[arg-type]
    return record.copy(status=status)


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (JobStatus.FINISHED, Dependents.RELEASE),
        (JobStatus.FAILED, Dependents.CANCEL),
        (JobStatus.STOPPED, Dependents.CANCEL),
        (JobStatus.CANCELED, Dependents.CANCEL),
        (JobStatus.QUEUED, None),
        (JobStatus.SCHEDULED, None),
        (JobStatus.STARTED, None),
        (JobStatus.DEFERRED, None),
    ],
    ids=str,
)
def test_what_the_dependents_of_an_ended_job_become(
    status: JobStatus, action: Dependents | None
) -> None:
    assert rules.on_parent_ended(status) is action


def test_a_dependent_is_released_when_every_dependency_is_done_or_gone() -> None:
    assert rules.released([JobStatus.FINISHED, None])
    assert not rules.released([JobStatus.FINISHED, JobStatus.STARTED])


def test_enqueue_defers_a_job_while_a_dependency_is_not_done() -> None:
    waiting = job(depends_on=["a", "b"], ttl=60)
    stored = rules.on_enqueue(waiting, [JobStatus.FINISHED, JobStatus.QUEUED])
    assert (stored.status, stored.enqueued, stored.expires_at) == (JobStatus.DEFERRED, None, None)


def test_enqueue_ends_a_job_whose_dependency_will_never_finish() -> None:
    doomed = job(depends_on=["a", "b"], failure_ttl=40)
    stored = rules.on_enqueue(doomed, [JobStatus.QUEUED, JobStatus.STOPPED])
    assert (stored.status, stored.ended, stored.expires_at) == (JobStatus.CANCELED, NOW, NOW + 40)


def test_enqueue_keeps_a_job_whose_dependencies_are_done_or_that_waits_for_nothing() -> None:
    ready = job(depends_on=["a"])
    assert rules.on_enqueue(ready, [JobStatus.FINISHED]) is ready
    assert rules.on_enqueue(ready, [None]) is ready
    plain = job()
    assert rules.on_enqueue(plain, []) is plain


def test_a_ttl_counts_from_entering_the_queue() -> None:
    assert rules.queue_entry(NOW, 30, NOW - 100) == Entry(NOW, NOW + 30)
    assert rules.queue_entry(NOW, None, NOW - 100) == Entry(NOW, None)


def test_a_ttl_could_count_from_creation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rules, "TTL_FROM_QUEUE_ENTRY", False)
    assert rules.queue_entry(NOW, 30, NOW - 100) == Entry(NOW, NOW - 70)


@pytest.mark.parametrize("status", [JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED])
def test_cancel_ends_a_job_that_has_not_started(status: JobStatus) -> None:
    ending = rules.cancel(job(status, failure_ttl=-1), NOW)
    assert ending == Ending(JobStatus.CANCELED, NOW, None)


def test_cancel_of_a_started_job_is_left_to_its_worker() -> None:
    assert rules.cancel(job(JobStatus.STARTED), NOW) is None


def test_cancel_and_requeue_refuse_the_other_statuses() -> None:
    with pytest.raises(InvalidStateError, match="is finished; it cannot be canceled"):
        rules.cancel(job(JobStatus.FINISHED), NOW)
    with pytest.raises(InvalidStateError, match="only failed, canceled or stopped jobs"):
        rules.requeue(job(JobStatus.FINISHED), NOW)
    assert rules.requeue(job(JobStatus.STOPPED, ttl=5), NOW + 1) == Entry(NOW + 1, NOW + 6)


def test_a_registry_is_ordered_by_when_a_job_entered_its_state() -> None:
    ended = job(JobStatus.FAILED).copy(started=NOW + 1, ended=NOW + 2)
    assert rules.registry_sort_key(ended) == (NOW + 2, ended.id)
    due = job(JobStatus.SCHEDULED).copy(enqueued=None, scheduled=NOW + 9, ended=NOW + 3)
    assert rules.registry_time(due) == NOW + 9
    fresh = job(JobStatus.DEFERRED).copy(enqueued=None)
    assert rules.registry_time(fresh) == NOW
