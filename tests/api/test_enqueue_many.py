"""Queue.enqueue_many: all of the jobs or none of them."""

from __future__ import annotations

from typing import Any

import pytest

from joblane import (
    DuplicateJobError,
    EnqueueData,
    InvalidFunctionError,
    InvalidJobError,
    InvalidJobIdError,
    JobStatus,
    NoSuchJobError,
    PayloadTooLargeError,
    Queue,
    SerializationError,
)
from joblane.backends.memory import MemoryBackend
from tests.api.conftest import drain
from tests.jobs import sample


def test_prepare_data() -> None:
    data = Queue.prepare_data(sample.add, [1], {"b": 2}, job_id="x")
    assert data == EnqueueData(sample.add, (1,), {"b": 2}, {"job_id": "x"})


def test_enqueue_many(queue: Queue, backend: MemoryBackend) -> None:
    jobs = queue.enqueue_many(
        [
            Queue.prepare_data(sample.add, (1, 2), job_id="m1"),
            Queue.prepare_data(sample.add, (3,), {"b": 4}, job_id="m2"),
            Queue.prepare_data("tests.jobs.sample.noop", job_id="m3", at_front=True),
        ]
    )
    assert [j.id for j in jobs] == ["m1", "m2", "m3"]
    assert all(j.status is JobStatus.QUEUED for j in jobs)
    assert [j.id for j in queue.get_jobs()] == ["m3", "m1", "m2"]
    drain(backend)
    assert [j.refresh().return_value for j in jobs] == [3, 7, None]


def test_enqueue_many_of_nothing(queue: Queue) -> None:
    assert queue.enqueue_many([]) == []
    assert queue.enqueue_many(iter(())) == []


def test_enqueue_many_with_a_dependency_inside_the_batch(
    queue: Queue, backend: MemoryBackend
) -> None:
    parent, child = queue.enqueue_many(
        [
            Queue.prepare_data(sample.noop, job_id="parent"),
            Queue.prepare_data(sample.noop, job_id="child", depends_on="parent"),
        ]
    )
    assert parent.status is JobStatus.QUEUED
    assert child.status is JobStatus.DEFERRED
    drain(backend)
    assert child.get_status() is JobStatus.FINISHED


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (Queue.prepare_data(sample.echo, ({1},)), SerializationError),
        (Queue.prepare_data(sample.echo, job_id="bad id"), InvalidJobIdError),
        (Queue.prepare_data(lambda: None), InvalidFunctionError),
        (Queue.prepare_data(sample.echo, bogus=True), InvalidJobError),
        (Queue.prepare_data(sample.echo, job_timeout=-3), InvalidJobError),
        (Queue.prepare_data(sample.echo, ("x" * 600_000,)), PayloadTooLargeError),
        (Queue.prepare_data(sample.echo, depends_on="ghost"), NoSuchJobError),
        (Queue.prepare_data(sample.echo, job_id="first"), DuplicateJobError),
        (Queue.prepare_data(sample.echo, job_id="live"), DuplicateJobError),
    ],
    ids=[
        "unserializable",
        "bad-id",
        "lambda",
        "unknown-option",
        "bad-option",
        "too-large",
        "missing-dependency",
        "duplicate-in-batch",
        "duplicate-of-live",
    ],
)
def test_one_bad_item_stores_nothing(
    queue: Queue, backend: MemoryBackend, bad: EnqueueData, error: type[Exception]
) -> None:
    live = queue.enqueue(sample.noop, job_id="live")
    items: list[Any] = [
        Queue.prepare_data(sample.add, (1, 2), job_id="first"),
        Queue.prepare_data(sample.add, (3, 4), job_id="second"),
        bad,
        Queue.prepare_data(sample.add, (5, 6), job_id="last"),
    ]
    with pytest.raises(error):
        queue.enqueue_many(items)
    assert [j.id for j in queue.get_jobs()] == [live.id]
    assert backend.get_many(["first", "second", "last"]) == [None, None, None]


def test_unique_item_in_enqueue_many(queue: Queue) -> None:
    live = queue.enqueue(sample.add, 1, 1, job_id="live")
    try:
        (job,) = queue.enqueue_many(
            [Queue.prepare_data(sample.add, (2, 2), job_id="live", unique=True)]
        )
    except InvalidJobError:
        return  # refusing the option outright would be a fix too
    assert job.id == live.id
    assert job.args == [1, 1]
