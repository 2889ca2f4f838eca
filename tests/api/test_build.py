"""Build then store: Queue.build validates everything and stores nothing;
Queue.store stores what was built. building.build_job is the same, pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from joblane import (
    DuplicateJobError,
    InvalidFunctionError,
    InvalidJobError,
    InvalidJobIdError,
    JobStatus,
    NoSuchJobError,
    PayloadTooLargeError,
    PreparedJob,
    Queue,
    SerializationError,
)
from joblane.backends.memory import MemoryBackend
from joblane.building import build_job
from joblane.core.job import JobOptions
from joblane.testing import ManualClock
from tests.api.conftest import drain
from tests.jobs import sample


def test_build_stores_nothing_and_store_stores_it(queue: Queue, backend: MemoryBackend) -> None:
    prepared = queue.build(sample.add, 1, b=2, job_id="b1", job_timeout=5)
    assert isinstance(prepared, PreparedJob)
    assert prepared.id == "b1" and prepared.unique is False
    assert backend.get("b1") is None and queue.count == 0
    (job,) = queue.store([prepared])
    assert job.record == prepared.record
    assert (job.status, job.args, job.kwargs, job.record.job_timeout) == (
        JobStatus.QUEUED, [1], {"b": 2}, 5,
    )  # fmt: skip
    drain(backend)
    assert job.refresh().return_value == 3


def test_a_build_is_what_enqueue_stores(queue: Queue, clock: ManualClock) -> None:
    prepared = queue.build(sample.with_defaults, 1, job_id="same", meta={"k": 1})
    enqueued = queue.enqueue(sample.with_defaults, 1, job_id="same", meta={"k": 1})
    assert enqueued.record == prepared.record


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda q: q.build(lambda: None), InvalidFunctionError),
        (lambda q: q.build(sample.echo, {1}), SerializationError),
        (lambda q: q.build(sample.echo, job_id="bad id"), InvalidJobIdError),
        (lambda q: q.build(sample.echo, job_timeout=-3), InvalidJobError),
        (lambda q: q.build_call(sample.echo, bogus=1), InvalidJobError),
        (lambda q: q.build(sample.echo, "x" * 600_000), PayloadTooLargeError),
        (lambda q: q.build(sample.echo, unique=True), InvalidJobError),
        (lambda q: q.build(sample.echo, depends_on=5), InvalidJobError),
        (lambda q: q.build_call(sample.echo, at="tomorrow"), InvalidJobError),
        (lambda q: q.build_call(sample.echo, at=datetime(2040, 1, 1, tzinfo=UTC)), InvalidJobError),
    ],
)
def test_build_raises_what_enqueue_raises(queue: Queue, call: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        call(queue)
    assert queue.count == 0 and queue.scheduled_job_registry.count == 0


def test_depends_on_that_is_not_a_job_is_refused_by_name(queue: Queue) -> None:
    # A number once raised TypeError ("'int' object is not iterable") from deep inside.
    with pytest.raises(InvalidJobError, match="depends_on takes jobs or job ids, not int"):
        queue.enqueue(sample.noop, depends_on=5)


def test_jobs_built_together_are_stored_together(queue: Queue, backend: MemoryBackend) -> None:
    parent = queue.build(sample.noop, job_id="parent")
    child = queue.build(sample.noop, job_id="child", depends_on=parent)
    other = queue.build(sample.noop, job_id="other", depends_on=[parent.record, "parent"])
    assert child.record.depends_on == ("parent",)
    assert other.record.depends_on == ("parent", "parent")
    stored = queue.store([parent, child, other])
    assert [j.status for j in stored] == [JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.DEFERRED]
    drain(backend)
    assert {j.refresh().status for j in stored} == {JobStatus.FINISHED}


def test_store_is_all_or_nothing(queue: Queue, backend: MemoryBackend) -> None:
    queue.enqueue(sample.noop, job_id="live")
    fresh = queue.build(sample.noop, job_id="fresh")
    clash = queue.build(sample.noop, job_id="live")
    with pytest.raises(DuplicateJobError):
        queue.store([fresh, clash])
    assert backend.get("fresh") is None
    with pytest.raises(NoSuchJobError):
        queue.store([queue.build(sample.noop, depends_on="ghost")])


def test_unique_is_built_in_and_holds_for_one_store(queue: Queue) -> None:
    first = queue.store([queue.build(sample.unique_by_default, 1, job_id="u")])[0]
    again = queue.build(sample.unique_by_default, 2, job_id="u")
    assert again.unique is True
    assert queue.store([again])[0].args == [1] == first.args
    plain = queue.build(sample.noop, job_id="p")
    with pytest.raises(InvalidJobError, match="all ask for unique, or none"):
        queue.store([again, plain])
    assert queue.store([]) == []


def test_build_call_schedules(queue: Queue, clock: ManualClock) -> None:
    when = datetime.fromtimestamp(clock.now(), UTC) + timedelta(hours=1)
    prepared = queue.build_call(sample.add, (1, 2), at=when)
    assert prepared.record.status is JobStatus.SCHEDULED
    (job,) = queue.store([prepared])
    assert job.scheduled_at == when
    assert queue.scheduled_job_registry.count == 1


def test_build_job_is_pure() -> None:
    # No backend, no clock: the time is given.
    prepared = build_job("low", "tests.jobs.sample.add", [1], {"b": 2}, {"job_id": "p1"}, now=5.0)
    assert (prepared.record.queue, prepared.record.created, prepared.record.enqueued) == (
        "low", 5.0, 5.0,
    )  # fmt: skip
    assert prepared.record.job_timeout == JobOptions().job_timeout
