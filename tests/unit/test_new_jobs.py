"""Building a batch of records (joblane.core.job.new_jobs): what new_job
builds for each call, with the shared work done once."""

from __future__ import annotations

import dataclasses
import random
import tracemalloc
from typing import Any

import pytest

from joblane.core.job import JobOptions, JobRecord, new_job, new_job_ids, new_jobs
from joblane.core.retry import Retry
from joblane.core.serialization import MAX_DEPTH, encode_call, encode_calls
from joblane.errors import InvalidJobError, PayloadTooLargeError, SerializationError
from joblane.testing import ManualClock

NOW = ManualClock().now()
FUNC = "tests.jobs.sample.add"
CALLS: list[tuple[Any, Any]] = [((1, 2), {}), ([3], {"b": 4}), ((), {"a": "é", "b": [1.5]})]
PLAIN_CALLS: list[tuple[Any, Any]] = [((1, 2), {}), ([3, True], {}), ((), {}), (("é", [1.5]), {})]
"""Calls without keyword arguments: encoded at once (encode_calls)."""

OPTIONS = [
    JobOptions(),
    JobOptions(job_timeout=5, result_ttl=0, failure_ttl=-1, ttl=60),
    JobOptions(meta={"k": [1]}, at_front=True, depends_on=["a", "b"]),
    JobOptions(retry=Retry(max=3, interval=[1, 2])),
]


def _without_id(record: JobRecord) -> JobRecord:
    return dataclasses.replace(record, id="-")


@pytest.mark.parametrize("calls", [CALLS, PLAIN_CALLS])
@pytest.mark.parametrize("options", OPTIONS)
def test_each_record_is_what_new_job_builds(
    options: JobOptions, calls: list[tuple[Any, Any]]
) -> None:
    batch = new_jobs("normal", FUNC, calls, options, now=NOW)
    one_by_one = [new_job("normal", FUNC, a, k, options, now=NOW) for a, k in calls]
    assert [_without_id(r) for r in batch] == [_without_id(r) for r in one_by_one]
    assert len({r.id for r in batch}) == len(calls)


def _nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


def test_encode_calls_is_encode_call_of_each_plain_call() -> None:
    assert encode_calls(PLAIN_CALLS) == [encode_call(a, k) for a, k in PLAIN_CALLS]
    for bad in [
        ((1,), {"a": 1}),  # keyword arguments
        ({"a": 1}, {}),  # not a list or tuple
        ((1,), []),  # not a dict
        (({1},), {}),  # not JSON
        ((float("nan"),), {}),  # NaN
        ((None,), {}),  # null: encode_call looks for NaN
        ([_nested(MAX_DEPTH - 3)], {}),  # deep: encode_call decides
        (("x" * 1000,), {}),  # long
    ]:
        assert encode_calls([((1,), {}), bad]) is None


def test_records_share_no_mutable_meta() -> None:
    first, second = new_jobs("normal", FUNC, CALLS[:2], JobOptions(meta={"k": 1}), now=NOW)
    first.meta["k"] = 2
    assert second.meta == {"k": 1}


def test_jitter_is_drawn_per_job() -> None:
    options = JobOptions(retry=Retry(max=2, interval=[10, 10], jitter=0.5))
    first, second = new_jobs("normal", FUNC, CALLS[:2], options, now=NOW, rng=random.Random(1))
    assert first.retry_intervals != second.retry_intervals
    assert all(5 <= d <= 10 for d in (*first.retry_intervals, *second.retry_intervals))


def test_a_given_job_id_is_kept() -> None:
    (record,) = new_jobs("normal", FUNC, CALLS[:1], JobOptions(job_id="mine"), now=NOW)
    assert record.id == "mine"


def test_ids_are_uuid4_hex() -> None:
    ids = new_job_ids(500)
    assert len(set(ids)) == 500
    for job_id in ids:
        assert len(job_id) == 32 and int(job_id, 16) >= 0
        assert job_id[12] == "4"  # version 4
        assert job_id[16] in "89ab"  # RFC 4122 variant
    assert new_job_ids(0) == []


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        ((({1},), {}), SerializationError, r"argument 0 of tests\.jobs\.sample\.add .*set"),
        ((("x" * 600,), {}), PayloadTooLargeError, r"over the limit of 500 bytes"),
        (({"a": 1}, {}), InvalidJobError, "args must be a list or tuple, not dict"),
        (((), [1]), InvalidJobError, "kwargs must be a dict, not list"),
    ],
)
def test_a_bad_call_raises_what_new_job_raises(
    call: tuple[Any, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        new_jobs("normal", FUNC, [((1,), {}), call], JobOptions(), now=NOW, max_payload=500)


def test_unserializable_meta_is_named_after_the_arguments() -> None:
    options = JobOptions(meta={"tags": {1}})
    with pytest.raises(SerializationError, match=r"^argument 0 of"):
        new_jobs("normal", FUNC, [(({2},), {})], options, now=NOW)
    with pytest.raises(SerializationError, match=r"^meta is not JSON-serializable"):
        new_jobs("normal", FUNC, CALLS, options, now=NOW)


def test_an_encoded_call_holds_no_more_memory_than_its_bytes() -> None:
    # orjson's own bytes keep a 4 KiB buffer; a record keeps its payload.
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [encode_call((i,), {}) for i in range(100)]
        kept += encode_calls([((i,), {}) for i in range(100)]) or []
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept[7] == kept[107] == b'{"args":[7],"kwargs":{}}'
    assert grown < 200 * 500
