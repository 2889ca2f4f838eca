"""The Job API: fetch, status, results, wait, cancel, requeue, delete, to_dict."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from joblane import (
    InvalidJobError,
    InvalidJobIdError,
    InvalidStateError,
    Job,
    JobStatus,
    NoSuchJobError,
    Queue,
    Retry,
    SerializationError,
    WaitTimeoutError,
    WorkerThread,
)
from joblane.backends.memory import MemoryBackend
from joblane.testing import ManualClock
from tests.api.conftest import drain
from tests.jobs import sample


def test_fetch(queue: Queue, backend: MemoryBackend) -> None:
    job = queue.enqueue(sample.add, 1, b=2, meta={"m": 1})
    fetched = Job.fetch(job.id, backend=backend)
    assert fetched.id == job.id
    assert fetched.to_dict() == job.to_dict()
    assert repr(fetched) == f"<Job {job.id} tests.jobs.sample.add queued>"


def test_fetch_by_url_of_a_fresh_memory_backend_finds_nothing() -> None:
    with pytest.raises(NoSuchJobError):
        Job.fetch("abc", url="memory://")


def test_fetch_missing(backend: MemoryBackend) -> None:
    with pytest.raises(NoSuchJobError) as info:
        Job.fetch("nope", backend=backend)
    assert isinstance(info.value, KeyError)
    assert str(info.value) == "no job with the id 'nope'"
    assert info.value.job_id == "nope"


@pytest.mark.parametrize("job_id", ["", "a b", "../x", "x" * 129, "\u00e9t\u00e9"])
def test_fetch_malformed_id(backend: MemoryBackend, job_id: str) -> None:
    with pytest.raises(InvalidJobIdError):
        Job.fetch(job_id, backend=backend)


def test_queue_fetch_job_only_finds_its_own(queue: Queue, backend: MemoryBackend) -> None:
    job = queue.enqueue(sample.noop)
    assert queue.fetch_job(job.id) is not None
    assert Queue("low", backend=backend).fetch_job(job.id) is None
    assert queue.fetch_job("missing") is None
    with pytest.raises(InvalidJobIdError):
        queue.fetch_job("a/b")


def test_get_status_refreshes(queue: Queue, backend: MemoryBackend) -> None:
    job = queue.enqueue(sample.add, 1, 2)
    drain(backend)
    assert job.status is JobStatus.QUEUED  # as last read
    assert job.get_status(refresh=False) is JobStatus.QUEUED
    assert job.get_status() is JobStatus.FINISHED
    assert job.is_finished and not job.is_failed


def test_return_value(queue: Queue, backend: MemoryBackend) -> None:
    job = queue.enqueue(sample.echo, 1, (2, 3), k="v")
    assert job.return_value is None
    drain(backend)
    assert job.refresh().return_value == {"args": [1, [2, 3]], "kwargs": {"k": "v"}}
    assert job.last_job_result is None
    assert job.attempts == 1


def test_failed_job(queue: Queue, backend: MemoryBackend) -> None:
    job = queue.enqueue(sample.fail, "nope")
    drain(backend)
    job.refresh()
    assert job.is_failed and not job.is_finished
    assert job.return_value is None
    assert (job.last_job_result or "").startswith("Traceback (most recent call last):")
    assert (job.last_job_result or "").endswith("RuntimeError: nope\n")
    assert job.ended_at is not None


def test_wait_returns_once_ended(queue: Queue, start_worker: Callable[..., WorkerThread]) -> None:
    start_worker()
    job = queue.enqueue(sample.add, 20, 22)
    assert job.wait(timeout=5) is job
    assert job.status is JobStatus.FINISHED
    assert job.return_value == 42


def test_wait_tells_the_outcome_with_result_ttl_zero(
    queue: Queue, start_worker: Callable[..., WorkerThread]
) -> None:
    # It raised NoSuchJobError: the finished job was deleted at once.
    start_worker()
    job = queue.enqueue(sample.add, 20, 22, result_ttl=0)
    assert job.wait(timeout=5).status is JobStatus.FINISHED
    assert job.return_value == 42


def test_wait_on_an_ended_job_returns_at_once(queue: Queue, backend: MemoryBackend) -> None:
    job = queue.enqueue(sample.fail)
    drain(backend)
    started = time.monotonic()
    assert job.wait(timeout=0).status is JobStatus.FAILED
    assert time.monotonic() - started < 0.5


def test_wait_times_out(queue: Queue) -> None:
    job = queue.enqueue(sample.noop)
    started = time.monotonic()
    with pytest.raises(WaitTimeoutError) as info:
        job.wait(timeout=0.05)
    assert 0.04 <= time.monotonic() - started < 1.0
    assert isinstance(info.value, TimeoutError)
    assert str(info.value) == f"job {job.id} is still queued after 0.05 s"


def test_cancel_queued(queue: Queue) -> None:
    job = queue.enqueue(sample.noop)
    assert job.cancel() is job
    assert job.status is JobStatus.CANCELED
    assert job.get_status() is JobStatus.CANCELED
    assert job.ended_at is not None
    assert queue.count == 0
    assert queue.canceled_job_registry.get_job_ids() == [job.id]


def test_cancel_scheduled(queue: Queue, backend: MemoryBackend, clock: ManualClock) -> None:
    job = queue.enqueue_at(datetime(2030, 1, 1, tzinfo=UTC), sample.noop)
    job.cancel()
    assert job.status is JobStatus.CANCELED
    assert queue.scheduled_job_registry.count == 0
    clock.set(datetime(2031, 1, 1, tzinfo=UTC).timestamp())
    assert drain(backend).claimed == 0


def test_a_canceled_job_is_not_run(queue: Queue, backend: MemoryBackend) -> None:
    job = queue.enqueue(sample.noop)
    job.cancel()
    assert drain(backend).claimed == 0
    assert job.get_status() is JobStatus.CANCELED


@pytest.mark.parametrize("func", [sample.noop, sample.fail])
def test_cancel_an_ended_job_is_refused(
    queue: Queue, backend: MemoryBackend, func: Callable[..., object]
) -> None:
    job = queue.enqueue(func)
    drain(backend)
    with pytest.raises(InvalidStateError, match=repr(job.id)):
        job.cancel()


def test_cancel_missing(queue: Queue) -> None:
    job = queue.enqueue(sample.noop)
    job.delete()
    with pytest.raises(NoSuchJobError):
        job.cancel()


def test_requeue_a_failed_job(queue: Queue, backend: MemoryBackend, tmp_path: Path) -> None:
    counter = str(tmp_path / "runs")
    job = queue.enqueue(sample.flaky, counter, 1)
    drain(backend)
    assert job.get_status() is JobStatus.FAILED
    assert job.requeue() is job
    assert job.status is JobStatus.QUEUED
    assert job.ended_at is None and job.started_at is None
    assert queue.count == 1
    assert queue.failed_job_registry.count == 0
    drain(backend)
    assert job.refresh().status is JobStatus.FINISHED
    assert job.return_value == 2


def test_requeue_a_canceled_job(queue: Queue, backend: MemoryBackend) -> None:
    job = queue.enqueue(sample.add, 1, 1)
    job.cancel()
    job.requeue()
    drain(backend)
    assert job.refresh().return_value == 2


@pytest.mark.parametrize("state", ["queued", "finished"])
def test_requeue_refused(queue: Queue, backend: MemoryBackend, state: str) -> None:
    job = queue.enqueue(sample.noop)
    if state == "finished":
        drain(backend)
    with pytest.raises(InvalidStateError, match=f"is {state}"):
        job.requeue()


def test_delete(queue: Queue, backend: MemoryBackend) -> None:
    job = queue.enqueue(sample.noop)
    assert job.delete() is True
    assert job.delete() is False
    assert queue.count == 0
    with pytest.raises(NoSuchJobError):
        Job.fetch(job.id, backend=backend)
    with pytest.raises(NoSuchJobError):
        job.refresh()


def test_delete_a_finished_job_empties_its_registry(queue: Queue, backend: MemoryBackend) -> None:
    job = queue.enqueue(sample.noop)
    drain(backend)
    assert queue.finished_job_registry.count == 1
    assert job.delete()
    assert queue.finished_job_registry.count == 0


def test_save_meta(queue: Queue, backend: MemoryBackend) -> None:
    job = queue.enqueue(sample.noop, meta={"a": 1})
    job.meta["progress"] = 50
    job.save_meta()
    assert Job.fetch(job.id, backend=backend).meta == {"a": 1, "progress": 50}


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), {1, 2}])
def test_save_meta_refuses_what_json_cannot_carry(queue: Queue, bad: object) -> None:
    # The memory backend kept it as given; the others refused it or stored NaN as null.
    job = queue.enqueue(sample.noop, meta={"a": 1})
    job.meta["score"] = {"now": bad}
    with pytest.raises(SerializationError, match=r"^meta is not JSON-serializable: \w+ value "
                       r"at \['score'\]\['now'\]"):  # fmt: skip
        job.save_meta()


@pytest.mark.timeout(10)
@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), 10**400, 1e12, True, "5"])
def test_wait_refuses_a_timeout_that_is_not_seconds(queue: Queue, timeout: Any) -> None:
    # NaN waited forever: no comparison with it is true, so it never ran out.
    job = queue.enqueue(sample.noop)
    with pytest.raises(InvalidJobError, match=r"^timeout must be"):
        job.wait(timeout=timeout)


def test_description(queue: Queue) -> None:
    assert queue.enqueue(sample.add, 1, b=2).description == "tests.jobs.sample.add(1, b=2)"
    assert queue.enqueue(sample.noop).description == "tests.jobs.sample.noop()"


def test_to_dict_of_a_queued_job(queue: Queue) -> None:
    job = queue.enqueue(sample.add, 1, b=2, job_id="d1", meta={"who": "me"}, ttl=60)
    assert list(job.to_dict().items()) == list(
        {
            "id": "d1",
            "description": "tests.jobs.sample.add(1, b=2)",
            "func_name": "tests.jobs.sample.add",
            "args": [1],
            "kwargs": {"b": 2},
            "queue": "normal",
            "status": "queued",
            "created": "2026-01-01T00:00:00",
            "enqueued": "2026-01-01T00:00:00",
            "started": None,
            "ended": None,
            "scheduled": None,
            "retries_left": 0,
            "retry_intervals": [],
            "attempts": 0,
            "lost_attempts": 0,
            "job_timeout": 180.0,
            "result_ttl": 500,
            "ttl": 60,
            "failure_ttl": 31_536_000,
            "return_value": None,
            "last_job_result": None,
            "meta": {"who": "me"},
            "enqueued_by": None,
            "depends_on": [],
            "worker_name": None,
        }.items()
    )  # in this order too


def test_to_dict_of_an_ended_job(queue: Queue, backend: MemoryBackend, clock: ManualClock) -> None:
    parent = queue.enqueue(sample.noop, job_id="p1")
    clock.advance(90.5)
    job = queue.enqueue(
        sample.fail, "x", job_id="d2", retry=Retry(max=1, interval=[5]), depends_on=parent
    )
    drain(backend, name="w-dict")
    data = job.refresh().to_dict()
    assert data["status"] == "scheduled"  # the retry waits its interval
    assert data["created"] == "2026-01-01T00:01:30"
    assert data["scheduled"] == "2026-01-01T00:01:35"
    assert data["retries_left"] == 0
    assert data["retry_intervals"] == [5]
    assert data["attempts"] == 1
    assert data["depends_on"] == ["p1"]
    assert data["worker_name"] == "w-dict"
    assert data["started"] == "2026-01-01T00:01:30"
    clock.advance(5)
    drain(backend)
    data = job.refresh().to_dict()
    assert data["status"] == "failed"
    assert data["attempts"] == 2
    assert data["started"] == data["ended"] == "2026-01-01T00:01:35"
    assert data["last_job_result"].endswith("RuntimeError: x\n")
    for key in ("created", "enqueued", "started", "ended"):
        datetime.fromisoformat(data[key])  # ISO 8601
        assert "+" not in data[key] and not data[key].endswith("Z")  # UTC, no offset
