"""Retry policy validation and delays (joblane.core.retry)."""

from __future__ import annotations

from typing import Any

import pytest

from joblane.core.limits import MAX_DURATION, MAX_RETRIES, MAX_RETRY_INTERVALS
from joblane.core.retry import Retry, retry_delay
from joblane.errors import InvalidJobError


def test_defaults() -> None:
    retry = Retry(max=3)
    assert retry.interval == 0
    assert retry.intervals == (0,)


@pytest.mark.parametrize(
    ("interval", "intervals"),
    [
        (5, (5,)),
        (0.5, (0.5,)),
        ([1, 2, 3], (1, 2, 3)),
        ((10,), (10,)),
        ([], (0,)),
    ],
)
def test_intervals(interval: Any, intervals: tuple[float, ...]) -> None:
    assert Retry(max=1, interval=interval).intervals == intervals


@pytest.mark.parametrize("max_", [-1, 1.0, "3", None, True, False])
def test_bad_max(max_: Any) -> None:
    with pytest.raises(InvalidJobError, match=r"Retry\.max") as info:
        Retry(max=max_)
    assert repr(max_) in str(info.value)


@pytest.mark.parametrize("interval", [-1, [1, -2], ["1"], "5", [True], True, [None]])
def test_bad_interval(interval: Any) -> None:
    with pytest.raises(InvalidJobError, match=r"Retry\.interval") as info:
        Retry(max=1, interval=interval)
    assert repr(interval) in str(info.value)


def test_interval_none_is_refused_as_invalid_job() -> None:
    with pytest.raises(InvalidJobError, match=r"Retry\.interval"):
        Retry(max=1, interval=None)  # type: ignore[arg-type]


def test_retry_is_frozen() -> None:
    retry = Retry(max=1)
    with pytest.raises(AttributeError):
        retry.max = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("intervals", "number", "delay"),
    [
        ((), 1, 0.0),
        ((7,), 1, 7.0),
        ((7,), 5, 7.0),  # one number: every retry
        ((1, 2, 3), 1, 1.0),
        ((1, 2, 3), 2, 2.0),
        ((1, 2, 3), 3, 3.0),
        ((1, 2, 3), 4, 3.0),  # the last item repeats
        ((1, 2, 3), 100, 3.0),
    ],
)
def test_retry_delay(intervals: tuple[float, ...], number: int, delay: float) -> None:
    result = retry_delay(intervals, number)
    assert result == delay
    assert isinstance(result, float)


def test_retry_delay_with_int_intervals_of_a_policy() -> None:
    retry = Retry(max=5, interval=[10, 60])
    assert [retry_delay(retry.intervals, n) for n in range(1, 6)] == [10, 60, 60, 60, 60]


def test_limits() -> None:
    retry = Retry(max=MAX_RETRIES, interval=[MAX_DURATION] * MAX_RETRY_INTERVALS)
    assert retry.intervals[-1] == MAX_DURATION
    assert (MAX_RETRIES, MAX_RETRY_INTERVALS) == (1_000_000, 100)


@pytest.mark.parametrize("max_", [MAX_RETRIES + 1, 10**30, 10**400])
def test_max_over_the_limit(max_: int) -> None:
    # 10**30 retries: SQLite raised OverflowError storing it; Redis rounded it.
    with pytest.raises(InvalidJobError, match=r"^Retry\.max must be an int from 0 to 1000000"):
        Retry(max=max_)


@pytest.mark.parametrize(
    ("interval", "message"),
    [
        (3e11, r"^Retry\.interval must be at most 315360000 seconds \(10 years\), not 3"),
        (10**400, r"^Retry\.interval must be at most 315360000 seconds"),
        ([1, MAX_DURATION + 1], r"^Retry\.interval must be at most .* \(in \[1, 315360001\]\)$"),
        (float("inf"), r"^Retry\.interval must be a finite number of seconds, not inf$"),
        ([float("nan")], r"^Retry\.interval must be a finite number of seconds, not nan \(in"),
        ([1] * (MAX_RETRY_INTERVALS + 1), r"^Retry\.interval may list at most 100 intervals"),
    ],
)
def test_intervals_over_the_limit(interval: Any, message: str) -> None:
    # A 3e11 s interval made the retried job, its registry and `joblane job` fail to read.
    with pytest.raises(InvalidJobError, match=message):
        Retry(max=1, interval=interval)
