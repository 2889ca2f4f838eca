"""Queue.enqueue and enqueue_call: options, defaults, and what is refused."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from joblane import (
    DuplicateJobError,
    InvalidFunctionError,
    InvalidJobError,
    InvalidJobIdError,
    InvalidQueueNameError,
    Job,
    JobStatus,
    NoSuchJobError,
    PayloadTooLargeError,
    Queue,
    Retry,
    SerializationError,
)
from joblane.backends.memory import MemoryBackend
from joblane.testing import ManualClock
from tests.api.conftest import drain
from tests.jobs import sample


def test_enqueue_stores_a_queued_job(queue: Queue, clock: ManualClock) -> None:
    job = queue.enqueue(sample.add, 1, b=2)
    assert isinstance(job, Job)
    assert job.status is JobStatus.QUEUED
    assert job.queue == "normal"
    assert job.func_name == "tests.jobs.sample.add"
    assert job.args == [1]
    assert job.kwargs == {"b": 2}
    assert job.description == "tests.jobs.sample.add(1, b=2)"
    assert job.created_at == job.enqueued_at == datetime.fromtimestamp(clock.now(), UTC)
    assert job.started_at is job.ended_at is job.scheduled_at is None
    assert job.return_value is None
    assert job.attempts == 0
    assert queue.count == len(queue) == 1
    assert [j.id for j in queue.get_jobs()] == [job.id]


def test_enqueue_by_dotted_name(queue: Queue, backend: MemoryBackend) -> None:
    job = queue.enqueue("tests.jobs.sample.add", 2, 3)
    assert job.func_name == "tests.jobs.sample.add"
    drain(backend)
    assert job.refresh().return_value == 5


def test_description_quotes_strings_and_shows_structures(queue: Queue) -> None:
    job = queue.enqueue(sample.echo, "x", [1, None], flag=True, opt={"k": "v"})
    assert job.description == ("tests.jobs.sample.echo('x', [1, None], flag=True, opt={'k': 'v'})")


def test_reserved_names_in_enqueue_are_options(queue: Queue) -> None:
    job = queue.enqueue(
        sample.echo,
        1,
        job_id="chosen-id",
        ttl=30,
        meta={"owner": "me"},
        result_ttl=10,
        failure_ttl=20,
        job_timeout=5,
        retry=2,
        at_front=True,
        x="job's own",
    )
    assert job.id == "chosen-id"
    assert job.args == [1]
    assert job.kwargs == {"x": "job's own"}
    record = job.record
    assert (record.ttl, record.result_ttl, record.failure_ttl) == (30, 10, 20)
    assert record.job_timeout == 5
    assert record.retries_left == 2
    assert record.at_front is True
    assert job.meta == {"owner": "me"}


def test_a_job_parameter_named_like_an_option_goes_through_enqueue_call(
    queue: Queue, backend: MemoryBackend
) -> None:
    job = queue.enqueue_call(sample.expire, kwargs={"ttl": 21}, ttl=600)
    assert job.kwargs == {"ttl": 21}
    assert job.record.ttl == 600
    drain(backend)
    assert job.refresh().return_value == 42


def test_enqueue_call_with_args_kwargs_and_options(queue: Queue) -> None:
    job = queue.enqueue_call(sample.add, (1,), {"b": 2}, job_id="call-1", result_ttl=-1)
    assert (job.id, job.args, job.kwargs, job.record.result_ttl) == (
        "call-1",
        [1],
        {"b": 2},
        -1,
    )


def test_unknown_option_is_refused(queue: Queue) -> None:
    with pytest.raises(InvalidJobError, match=r"^unknown job option\(s\): bogus, timeout$"):
        queue.enqueue_call(sample.add, (1, 2), timeout=5, bogus=1)
    assert queue.count == 0


def test_job_decorator_options_are_defaults(queue: Queue) -> None:
    job = queue.enqueue(sample.with_defaults, 1)
    assert job.record.job_timeout == 7
    assert job.record.result_ttl == -1
    assert job.retries_left == 1
    own = queue.enqueue(sample.with_defaults, 1, job_timeout=9, retry=0)
    assert own.record.job_timeout == 9
    assert own.retries_left == 0
    assert own.record.result_ttl == -1


def test_job_decorator_unique_default(queue: Queue) -> None:
    first = queue.enqueue(sample.unique_by_default, 1, job_id="u1")
    again = queue.enqueue(sample.unique_by_default, 2, job_id="u1")
    assert again.id == first.id
    assert again.args == [1]
    assert queue.count == 1


def test_explicit_unique_false_overrides_the_decorator(queue: Queue) -> None:
    queue.enqueue(sample.unique_by_default, 1, job_id="u2")
    with pytest.raises(DuplicateJobError):
        queue.enqueue(sample.unique_by_default, 2, job_id="u2", unique=False)


def test_unique_returns_the_live_job(queue: Queue) -> None:
    first = queue.enqueue(sample.add, 1, 2, job_id="same")
    again = queue.enqueue(sample.add, 5, 5, job_id="same", unique=True)
    assert again.id == first.id
    assert again.args == [1, 2]
    assert again.status is JobStatus.QUEUED
    assert queue.count == 1


def test_unique_replaces_an_ended_job(queue: Queue, backend: MemoryBackend) -> None:
    queue.enqueue(sample.add, 1, 2, job_id="once")
    drain(backend)
    again = queue.enqueue(sample.add, 5, 5, job_id="once", unique=True)
    assert again.status is JobStatus.QUEUED
    assert again.args == [5, 5]


def test_duplicate_id_of_a_live_job(queue: Queue) -> None:
    queue.enqueue(sample.add, 1, 2, job_id="dup")
    with pytest.raises(DuplicateJobError, match="'dup'") as info:
        queue.enqueue(sample.add, 3, 4, job_id="dup")
    assert info.value.job_id == "dup"
    assert Job.fetch("dup", backend=queue.backend).args == [1, 2]
    assert queue.count == 1


def test_duplicate_id_across_queues(queue: Queue, backend: MemoryBackend) -> None:
    queue.enqueue(sample.add, 1, 2, job_id="everywhere")
    with pytest.raises(DuplicateJobError):
        Queue("low", backend=backend).enqueue(sample.add, 1, 2, job_id="everywhere")


def test_id_of_an_ended_job_can_be_reused(queue: Queue, backend: MemoryBackend) -> None:
    queue.enqueue(sample.fail, job_id="reuse")
    drain(backend)
    job = queue.enqueue(sample.add, 1, 1, job_id="reuse")
    assert job.status is JobStatus.QUEUED
    assert job.last_job_result is None
    drain(backend)
    assert job.refresh().return_value == 2


def test_at_front(queue: Queue) -> None:
    a = queue.enqueue(sample.noop, job_id="a")
    b = queue.enqueue(sample.noop, job_id="b")
    c = queue.enqueue(sample.noop, job_id="c", at_front=True)
    assert [j.id for j in queue.get_jobs()] == [c.id, a.id, b.id]
    assert [j.id for j in queue.get_jobs(1, 1)] == [a.id]


def test_main_module_functions_are_allowed_in_process(queue: Queue) -> None:
    def local() -> None:
        return None

    local.__module__ = "__main__"
    local.__qualname__ = "local"
    assert queue.enqueue(local).func_name == "__main__.local"


# -- refused input -------------------------------------------------------------------


def test_unserializable_positional_argument(queue: Queue) -> None:
    with pytest.raises(SerializationError) as info:
        queue.enqueue(sample.echo, "ok", {"tags"} | {"x"})
    assert isinstance(info.value, TypeError)
    assert str(info.value).startswith(
        "argument 1 of tests.jobs.sample.echo is not JSON-serializable: set value"
    )
    assert queue.count == 0


def test_unserializable_keyword_argument(queue: Queue) -> None:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(SerializationError) as info:
        queue.enqueue(sample.echo, data={"when": when})
    assert str(info.value).startswith(
        "keyword argument 'data' of tests.jobs.sample.echo is not JSON-serializable: "
        "datetime value at ['when']"
    )


@pytest.mark.parametrize("job_id", ["", "has space", "a/b", "..", "x" * 129, 7])
def test_bad_job_id(queue: Queue, job_id: Any) -> None:
    with pytest.raises(InvalidJobIdError):
        queue.enqueue(sample.add, 1, 2, job_id=job_id)
    assert queue.count == 0


@pytest.mark.parametrize("name", ["bad name", "", "a/b", "..", "caf\u00e9", "x" * 65])
def test_invalid_queue_name(name: str, backend: MemoryBackend) -> None:
    with pytest.raises(InvalidQueueNameError, match=re.escape(repr(name[:80]))):
        Queue(name, backend=backend)


def test_lambda_is_refused(queue: Queue) -> None:
    with pytest.raises(InvalidFunctionError, match="lambda"):
        queue.enqueue(lambda: None)
    assert queue.count == 0


def test_nested_function_and_bound_method_are_refused(queue: Queue) -> None:
    def nested() -> None:
        return None

    with pytest.raises(InvalidFunctionError, match="<locals>"):
        queue.enqueue(nested)
    with pytest.raises(InvalidFunctionError, match="bound method"):
        queue.enqueue(queue.empty)
    with pytest.raises(InvalidFunctionError, match="dotted path"):
        queue.enqueue("not-a-path")


def test_kwargs_must_be_a_dict(queue: Queue) -> None:
    with pytest.raises(InvalidJobError, match="kwargs must be a dict, not list"):
        queue.enqueue_call(sample.add, (1,), [("b", 2)])  # type: ignore[arg-type]


def test_args_must_be_a_list_or_tuple(queue: Queue) -> None:
    with pytest.raises(InvalidJobError, match="args"):
        queue.enqueue_call(sample.add, "12")
    assert queue.count == 0


@pytest.mark.parametrize(
    ("option", "value"),
    [("job_timeout", "soon"), ("ttl", 0), ("result_ttl", -5), ("failure_ttl", "1d")],
)
def test_bad_option_value_names_the_option(queue: Queue, option: str, value: object) -> None:
    with pytest.raises(InvalidJobError, match=rf"^{option} must be"):
        queue.enqueue(sample.add, 1, 2, **{option: value})
    assert queue.count == 0


def test_bad_retry_and_meta(queue: Queue) -> None:
    with pytest.raises(InvalidJobError, match=r"Retry\.max"):
        queue.enqueue(sample.add, 1, 2, retry=Retry(max=-1) if False else -1)
    with pytest.raises(InvalidJobError, match="meta must be a dict"):
        queue.enqueue(sample.add, 1, 2, meta=["x"])
    with pytest.raises(InvalidJobError, match="depends_on takes jobs or job ids, not int"):
        queue.enqueue(sample.add, 1, 2, depends_on=[5])


def test_payload_too_large_stores_nothing(backend: MemoryBackend) -> None:
    small = Queue("normal", backend=backend, max_payload_bytes=64)
    with pytest.raises(PayloadTooLargeError, match=r"over the limit of 64 bytes"):
        small.enqueue(sample.echo, "x" * 100)
    assert small.count == 0
    assert backend.queue_names() == []
    assert small.enqueue(sample.echo, "x").status is JobStatus.QUEUED


def test_missing_dependency_stores_nothing(queue: Queue) -> None:
    with pytest.raises(NoSuchJobError, match="'ghost'"):
        queue.enqueue(sample.add, 1, 2, job_id="orphan", depends_on="ghost")
    with pytest.raises(NoSuchJobError):
        Job.fetch("orphan", backend=queue.backend)
