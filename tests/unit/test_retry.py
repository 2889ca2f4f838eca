"""Retry policy validation and delays (joblane.core.retry)."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from joblane.core.limits import MAX_DURATION, MAX_RETRIES, MAX_RETRY_INTERVALS
from joblane.core.retry import Retry, RetryJob, exception_names, retries_on, retry_delay
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


# -- back-off, jitter, on=, RetryJob (issue 10) ------------------------------


def test_backoff_expands_to_the_cap_then_stops() -> None:
    assert Retry(max=10, interval=1, factor=2, cap=10).intervals == (1, 2, 4, 8, 10)
    assert Retry(max=3, interval=1, factor=2).intervals == (1, 2, 4)
    assert Retry(max=1, interval=5, factor=2).intervals == (5,)
    assert Retry(max=1, interval=50, factor=2, cap=10).intervals == (10,)
    assert Retry(max=1, interval=7200).intervals == (7200,)  # no back-off: no cap


def test_backoff_grows_for_at_most_the_interval_limit() -> None:
    intervals = Retry(max=MAX_RETRIES, interval=1, factor=1.01, cap=MAX_DURATION).intervals
    assert len(intervals) == MAX_RETRY_INTERVALS
    assert retry_delay(intervals, 5000) == intervals[-1]


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"factor": 0.5}, r"Retry\.factor must be from 1 to 1000, not 0\.5"),
        ({"factor": 10**400}, r"Retry\.factor must be from 1 to 1000"),
        ({"factor": float("nan")}, r"Retry\.factor must be a finite number"),
        ({"factor": "2"}, r"Retry\.factor must be a number, not '2'"),
        ({"factor": 2, "interval": [1, 2]}, r"Retry\.factor needs one interval"),
        ({"factor": 2, "interval": 0}, r"Retry\.factor needs an interval > 0"),
        ({"factor": 2, "interval": 10**400}, r"Retry\.interval must be at most"),
        ({"cap": -1}, r"Retry\.cap must be from 0 to"),
        ({"cap": 10**30}, r"Retry\.cap must be from 0 to"),
        ({"jitter": 1.5}, r"Retry\.jitter must be from 0 to 1, not 1\.5"),
        ({"jitter": True}, r"Retry\.jitter must be a number, not True"),
        ({"on": 3}, r"Retry\.on must be exception classes or names, not 3"),
        ({"on": (int,)}, r"Retry\.on must be exception classes or dotted names"),
        ({"on": ("not a name",)}, r"Retry\.on must be exception classes or dotted names"),
    ],
)
def test_bad_backoff_is_refused_naming_the_value(options: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidJobError, match=match):
        Retry(max=3, **options)


def test_on_is_kept_as_dotted_names() -> None:
    retry = Retry(max=1, on=(TimeoutError, "requests.ConnectionError", InvalidJobError))
    assert retry.on == (
        "TimeoutError",
        "requests.ConnectionError",
        "joblane.errors.InvalidJobError",
    )
    assert Retry(max=1, on=(TimeoutError,)) == Retry(max=1, on=("builtins.TimeoutError",))
    assert exception_names(KeyError) == ("KeyError",)


def test_retries_on_matches_the_class_and_its_subclasses_only() -> None:
    on = exception_names((OSError, "requests.ConnectionError"))
    assert retries_on(on, TimeoutError())  # a subclass of OSError
    assert not retries_on(on, KeyError())
    assert retries_on((), KeyError())  # no list: every exception

    class ConnectionError(Exception):
        pass

    ConnectionError.__module__ = "requests"
    ConnectionError.__qualname__ = "ConnectionError"
    assert retries_on(on, ConnectionError())


@pytest.mark.parametrize("defer", [-1, 10**20, float("inf"), "1", None])
def test_retry_job_refuses_a_bad_defer(defer: Any) -> None:
    with pytest.raises(InvalidJobError, match=r"RetryJob\.defer"):
        RetryJob(defer=defer)


def test_retry_job_is_not_the_retry_policy() -> None:
    assert RetryJob(defer=2).defer == 2.0
    assert not issubclass(RetryJob, InvalidJobError)


finite = st.floats(min_value=0, max_value=MAX_DURATION, allow_nan=False)


@given(
    max_=st.integers(min_value=0, max_value=MAX_RETRIES),
    base=st.floats(min_value=0.001, max_value=MAX_DURATION),
    factor=st.floats(min_value=1, max_value=1000),
    cap=finite,
    jitter=st.floats(min_value=0, max_value=1),
    seed=st.integers(),
    retry_number=st.integers(min_value=1, max_value=MAX_RETRIES + 1),
)
def test_backoff_delays_stay_within_their_bounds(
    max_: int, base: float, factor: float, cap: float, jitter: float, seed: int, retry_number: int
) -> None:
    retry = Retry(max=max_, interval=base, factor=factor, cap=cap, jitter=jitter)
    full = retry.intervals
    delays = retry.delays(random.Random(seed))
    assert 1 <= len(delays) == len(full) <= MAX_RETRY_INTERVALS
    assert all(a <= b for a, b in itertools.pairwise(full))  # never shrinks
    if factor != 1:
        assert all(wait <= cap for wait in full)
    for wait, whole in zip(delays, full, strict=True):
        assert whole * (1 - jitter) - 1e-9 <= wait <= whole <= MAX_DURATION
    delay = retry_delay(delays, retry_number)
    assert 0 <= delay <= MAX_DURATION
    assert delay == delays[min(retry_number, len(delays)) - 1]


def test_an_enqueue_may_not_name_other_exceptions_than_its_function() -> None:
    import tests.jobs.sample  # noqa: F401  (registers fail_as)
    from joblane.building import resolve_options

    name = "tests.jobs.sample.fail_as"
    own = Retry(max=5, on=(TimeoutError, "tests.jobs.sample.Transient"))
    assert resolve_options(name, {"retry": own}).retry == own
    assert resolve_options(name, {"retry": Retry(max=1)}).retry == Retry(max=1)
    with pytest.raises(InvalidJobError, match=r"differs from tests\.jobs\.sample\.fail_as's"):
        resolve_options(name, {"retry": Retry(max=5, on=(KeyError,))})
    with pytest.raises(InvalidJobError, match=r"retry=Retry\(on=\['KeyError'\]\)"):
        resolve_options("tests.jobs.sample.add", {"retry": Retry(max=5, on=(KeyError,))})
