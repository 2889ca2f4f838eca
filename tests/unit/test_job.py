"""Building a job record at enqueue (joblane.core.job.new_job)."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest

from joblane.core.job import (
    DEFAULT_FAILURE_TTL,
    DEFAULT_JOB_TIMEOUT,
    DEFAULT_MAX_PAYLOAD,
    DEFAULT_RESULT_TTL,
    JobOptions,
    JobRecord,
    expiry,
    new_job,
)
from joblane.core.limits import MAX_DURATION
from joblane.core.retry import Retry
from joblane.core.serialization import decode_call
from joblane.core.states import JobStatus
from joblane.errors import (
    InvalidJobError,
    InvalidJobIdError,
    InvalidQueueNameError,
    PayloadTooLargeError,
    SerializationError,
)
from joblane.testing import ManualClock

NOW = ManualClock().now()
FUNC = "tests.jobs.sample.add"


def make(options: JobOptions | None = None, **kw: Any) -> JobRecord:
    kw.setdefault("now", NOW)
    return new_job("normal", FUNC, [1], {"b": 2}, options or JobOptions(), **kw)


def test_defaults() -> None:
    job = make()
    assert job.status is JobStatus.QUEUED
    assert job.queue == "normal"
    assert job.func_name == FUNC
    assert decode_call(job.payload) == ([1], {"b": 2})
    assert job.job_timeout == DEFAULT_JOB_TIMEOUT == 180
    assert job.result_ttl == DEFAULT_RESULT_TTL == 500
    assert job.failure_ttl == DEFAULT_FAILURE_TTL == 365 * 24 * 3600
    assert job.ttl is None
    assert job.retries_left == 0
    assert job.retry_intervals == ()
    assert job.attempts == 0
    assert job.created == job.enqueued == NOW
    assert job.scheduled is None
    assert job.started is job.ended is None
    assert job.expires_at is None
    assert job.meta == {}
    assert job.depends_on == ()
    assert job.at_front is False
    assert job.result is None
    assert job.last_job_result is job.lease_token is None
    assert job.cancel_requested is False
    assert len(job.id) == 32 and int(job.id, 16) >= 0


def test_generated_ids_are_unique() -> None:
    assert len({make().id for _ in range(200)}) == 200


def test_explicit_id_meta_front_and_dependencies() -> None:
    job = make(JobOptions(job_id="my-job", meta={"k": [1]}, at_front=True, depends_on=["a", "b"]))
    assert job.id == "my-job"
    assert job.meta == {"k": [1]}
    assert job.at_front is True
    assert job.depends_on == ("a", "b")
    # The backend decides deferred vs queued; new_job leaves it queued.
    assert job.status is JobStatus.QUEUED


def test_scheduled_in_the_future() -> None:
    job = make(scheduled=NOW + 60)
    assert job.status is JobStatus.SCHEDULED
    assert job.scheduled == NOW + 60
    assert job.enqueued is None
    assert job.created == NOW


@pytest.mark.parametrize("when", [NOW, NOW - 3600])
def test_scheduled_now_or_in_the_past_is_queued(when: float) -> None:
    job = make(scheduled=when)
    assert job.status is JobStatus.QUEUED
    assert job.scheduled is None
    assert job.enqueued == NOW


def test_ttl_sets_expiry_of_a_queued_job_only() -> None:
    queued = make(JobOptions(ttl=30))
    assert queued.ttl == 30
    assert queued.expires_at == NOW + 30
    scheduled = make(JobOptions(ttl=30), scheduled=NOW + 100)
    assert scheduled.ttl == 30
    assert scheduled.expires_at is None  # counted from when it becomes due


def test_retry_as_int_or_policy() -> None:
    assert make(JobOptions(retry=3)).retries_left == 3
    assert make(JobOptions(retry=3)).retry_intervals == (0,)
    job = make(JobOptions(retry=Retry(max=2, interval=[5, 10])))
    assert job.retries_left == 2
    assert job.retry_intervals == (5, 10)


def test_job_timeout_forever_and_none() -> None:
    assert make(JobOptions(job_timeout=-1)).job_timeout is None
    assert make(JobOptions(job_timeout=None)).job_timeout is None
    assert make(JobOptions(job_timeout=0.5)).job_timeout == 0.5


def test_keep_forever_and_zero_ttls() -> None:
    job = make(JobOptions(result_ttl=-1, failure_ttl=-1))
    assert (job.result_ttl, job.failure_ttl) == (-1, -1)
    job = make(JobOptions(result_ttl=0, failure_ttl=0))
    assert (job.result_ttl, job.failure_ttl) == (0, 0)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("job_timeout", 0),
        ("job_timeout", -5),
        ("job_timeout", "10"),
        ("job_timeout", True),
        ("result_ttl", -2),
        ("result_ttl", None),
        ("result_ttl", "500"),
        ("ttl", 0),
        ("ttl", -1),
        ("ttl", [1]),
        ("failure_ttl", -10),
        ("failure_ttl", False),
        ("failure_ttl", None),
    ],
)
def test_bad_option_values_name_the_option(field: str, value: object) -> None:
    changes: dict[str, Any] = {field: value}
    with pytest.raises(InvalidJobError) as info:  # refused as soon as the options are built
        make(dataclasses.replace(JobOptions(), **changes))
    assert type(info.value) is InvalidJobError
    assert str(info.value).startswith(f"{field} must be")
    assert repr(value) in str(info.value)


@pytest.mark.parametrize("retry", ["3", 1.5, True, [1]])
def test_bad_retry(retry: object) -> None:
    with pytest.raises(InvalidJobError, match="retry must be a Retry or an int") as info:
        make(JobOptions(retry=retry))  # type: ignore[arg-type]
    assert repr(retry) in str(info.value)


def test_negative_retry_count() -> None:
    with pytest.raises(InvalidJobError, match=r"Retry\.max.*-1"):
        make(JobOptions(retry=-1))


@pytest.mark.parametrize("meta", [[1], "meta", 5])
def test_bad_meta(meta: object) -> None:
    with pytest.raises(InvalidJobError, match="meta must be a dict") as info:
        make(JobOptions(meta=meta))  # type: ignore[arg-type]
    assert type(meta).__name__ in str(info.value)


def test_unserializable_meta_is_named() -> None:
    with pytest.raises(SerializationError, match=r"^meta is not JSON-serializable: set value"):
        make(JobOptions(meta={"tags": {1}}))


def test_bad_queue_job_id_and_dependency() -> None:
    with pytest.raises(InvalidQueueNameError, match="'no way'"):
        new_job("no way", FUNC, [], {}, JobOptions(), now=NOW)
    with pytest.raises(InvalidJobIdError, match="'a/b'"):
        make(JobOptions(job_id="a/b"))
    with pytest.raises(InvalidJobIdError, match=re.escape("'../x'")):
        make(JobOptions(depends_on=["ok", "../x"]))


def test_unserializable_argument_names_the_function() -> None:
    with pytest.raises(SerializationError, match=rf"argument 0 of {FUNC} .*set value"):
        new_job("normal", FUNC, [{1}], {}, JobOptions(), now=NOW)


def test_payload_at_the_limit_is_accepted() -> None:
    size = len(make().payload)
    assert make(max_payload=size).payload


def test_payload_over_the_limit_is_refused() -> None:
    size = len(make().payload)
    with pytest.raises(PayloadTooLargeError) as info:
        make(max_payload=size - 1)
    assert type(info.value) is PayloadTooLargeError
    assert str(info.value) == (
        f"job payload of {FUNC} is {size} bytes, over the limit of {size - 1} bytes"
    )


def test_meta_counts_towards_the_payload_limit() -> None:
    size = len(make().payload)
    meta = {"note": "x" * 100}
    with pytest.raises(PayloadTooLargeError):
        make(JobOptions(meta=meta), max_payload=size + 50)
    assert make(JobOptions(meta=meta), max_payload=size + 200).meta == meta


def test_default_payload_limit_is_512_kib() -> None:
    assert DEFAULT_MAX_PAYLOAD == 512 * 1024
    with pytest.raises(PayloadTooLargeError):
        new_job("normal", FUNC, ["x" * DEFAULT_MAX_PAYLOAD], {}, JobOptions(), now=NOW)


def test_expiry() -> None:
    assert expiry(100.0, 50) == 150.0
    assert expiry(100.0, 0) == 100.0
    assert expiry(100.0, -1) is None


def test_copy_changes_one_field_and_keeps_the_original() -> None:
    job = make()
    other = job.copy(status=JobStatus.STARTED, attempts=1)
    assert (other.status, other.attempts) == (JobStatus.STARTED, 1)
    assert (job.status, job.attempts) == (JobStatus.QUEUED, 0)
    assert other.id == job.id


def options(**changes: Any) -> JobOptions:
    return dataclasses.replace(JobOptions(), **changes)


@pytest.mark.parametrize("field", ["job_timeout", "result_ttl", "ttl", "failure_ttl"])
def test_durations_up_to_ten_years_are_accepted(field: str) -> None:
    job = make(options(**{field: MAX_DURATION}))
    assert getattr(job, field) == MAX_DURATION == 10 * 365 * 24 * 3600


@pytest.mark.parametrize("field", ["job_timeout", "result_ttl", "ttl", "failure_ttl"])
@pytest.mark.parametrize("value", [MAX_DURATION + 1, 3e11, 10**30, 10**400, -(10**30), 1e308])
def test_durations_past_ten_years_are_refused(field: str, value: float) -> None:
    # Accepted before, they broke later reads: a Redis ttl of 10**30 was stored
    # and then unreadable, math.isfinite(10**400) raised OverflowError.
    with pytest.raises(InvalidJobError, match=rf"^{field} must be at most 315360000 seconds"):
        make(options(**{field: value}))


@pytest.mark.parametrize("field", ["result_ttl", "ttl", "failure_ttl"])
def test_ttls_are_whole_seconds(field: str) -> None:
    with pytest.raises(InvalidJobError, match=rf"^{field} must be a whole number of seconds"):
        make(options(**{field: 100.5}))
    job = make(options(**{field: 100.0}))  # timedelta.total_seconds()
    assert getattr(job, field) == 100 and type(getattr(job, field)) is int


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_durations_are_refused(value: float) -> None:
    with pytest.raises(InvalidJobError, match=r"^ttl must be a finite number of seconds"):
        make(JobOptions(ttl=value))  # type: ignore[arg-type]


def test_scheduled_up_to_ten_years_ahead() -> None:
    assert make(scheduled=NOW + MAX_DURATION).scheduled == NOW + MAX_DURATION
    for late in (NOW + MAX_DURATION + 1, NOW + 3e11, float("inf"), float("nan")):
        with pytest.raises(InvalidJobError, match="at most 315360000 seconds"):
            make(scheduled=late)


def test_meta_with_nan_is_refused_with_its_path() -> None:
    with pytest.raises(SerializationError, match=r"^meta is not JSON-serializable: float value "
                       r"at \['score'\] \(nan\)"):  # fmt: skip
        make(JobOptions(meta={"score": float("nan")}))
