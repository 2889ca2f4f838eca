"""Retry policy: how many times a failed job runs again, after how long, and
on which exceptions; and :class:`RetryJob`, a job's own request for a retry.

Everything here is pure: jitter draws from the ``random.Random`` passed in.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from joblane.core.limits import MAX_DURATION, MAX_RETRIES, MAX_RETRY_INTERVALS, seconds
from joblane.errors import InvalidJobError, JoblaneError

ExceptionSpec = type[BaseException] | str
"""An exception class, or its dotted name (``"requests.ConnectionError"``)."""


@dataclass(frozen=True, slots=True)
class Retry:
    """Run a failed job again up to *max* times.

    *interval* is seconds to wait before each retry: one number for all, or a
    list whose n-th item is the wait before the n-th retry (the last item
    repeats), as RQ's ``Retry``.

    Exponential back-off: with *factor* > 1, the n-th retry waits
    ``interval * factor ** (n - 1)`` seconds (*interval* one number, the base),
    at most *cap* seconds (default 1 hour; only back-off is capped). *jitter*
    (0 to 1) takes a random part, up to that fraction, off each wait, so that
    jobs that failed together do not all retry together; it is drawn once per
    job, when the job is built, and stored with its intervals.

    *on*: the exceptions (classes or dotted names; their subclasses too) worth
    a retry; any other exception fails the job at once, retries left or not.
    Empty (the default): every exception. The worker reads *on* from the
    function's ``@job(retry=...)``, so an enqueue may not name other
    exceptions than its function's.

    The bounds are in :mod:`joblane.core.limits`: *max* at most 1,000,000,
    each interval at most 10 years, a list at most 100 intervals (back-off
    grows for at most 100 retries, then repeats its last wait).
    """

    max: int
    interval: int | float | Sequence[int | float] = 0
    factor: int | float = 1
    cap: int | float = 3600
    jitter: int | float = 0
    on: tuple[ExceptionSpec, ...] = ()

    def __post_init__(self) -> None:
        if (
            isinstance(self.max, bool)
            or not isinstance(self.max, int)
            or not 0 <= self.max <= MAX_RETRIES
        ):
            raise InvalidJobError(
                f"Retry.max must be an int from 0 to {MAX_RETRIES}, not {_shown(self.max)}"
            )
        if isinstance(self.interval, bool) or not isinstance(
            self.interval, int | float | list | tuple
        ):
            raise InvalidJobError(
                f"Retry.interval must be seconds >= 0 or a list of them, not {self.interval!r}"
            )
        if isinstance(self.interval, int | float):
            _check_interval(self.interval, self.interval)  # before the back-off uses it
        self._check_backoff()
        intervals = self.intervals
        if len(intervals) > MAX_RETRY_INTERVALS:
            raise InvalidJobError(
                f"Retry.interval may list at most {MAX_RETRY_INTERVALS} intervals, "
                f"not {len(intervals)}"
            )
        for interval in intervals:
            _check_interval(interval, self.interval)
        object.__setattr__(self, "on", exception_names(self.on))

    def _check_backoff(self) -> None:
        factor = _number("Retry.factor", self.factor)
        if not 1 <= factor <= 1000:
            raise InvalidJobError(f"Retry.factor must be from 1 to 1000, not {self.factor!r}")
        if factor != 1 and not isinstance(self.interval, int | float):
            raise InvalidJobError(
                "Retry.factor needs one interval (the base of the back-off), "
                f"not the list {_shown(self.interval)}"
            )
        if factor != 1 and not self.interval:
            raise InvalidJobError("Retry.factor needs an interval > 0 (the base of the back-off)")
        cap = _number("Retry.cap", self.cap)
        if not 0 <= cap <= MAX_DURATION:
            raise InvalidJobError(
                f"Retry.cap must be from 0 to {MAX_DURATION} seconds, not {self.cap!r}"
            )
        jitter = _number("Retry.jitter", self.jitter)
        if not 0 <= jitter <= 1:
            raise InvalidJobError(f"Retry.jitter must be from 0 to 1, not {self.jitter!r}")

    @property
    def intervals(self) -> tuple[float, ...]:
        """The waits before each retry, without jitter (the last repeats)."""
        if isinstance(self.interval, int | float):
            if self.factor == 1:
                return (self.interval,)
            return _backoff(self.interval, self.factor, self.cap, max(self.max, 1))
        return tuple(self.interval) or (0,)

    def delays(self, rng: random.Random) -> tuple[float, ...]:
        """:attr:`intervals` with jitter drawn from *rng*: what a job stores."""
        intervals = self.intervals
        if not self.jitter:
            return intervals
        return tuple(d - d * self.jitter * rng.random() for d in intervals)


def _backoff(base: float, factor: float, cap: float, count: int) -> tuple[float, ...]:
    """``base * factor ** n`` capped, n from 0, until the cap (which repeats)
    or *count* or MAX_RETRY_INTERVALS waits."""
    waits: list[float] = []
    wait = float(base)
    for _ in range(min(count, MAX_RETRY_INTERVALS)):
        if wait >= cap:
            waits.append(float(cap))
            break
        waits.append(wait)
        wait *= factor
    return tuple(waits)


class RetryJob(JoblaneError):
    """Raised by a running job: end this attempt as a retry *defer* seconds
    from now (as arq's ``Retry(defer=...)``).

    The retry counts against the job's ``retries_left`` like any other (a job
    without retries left fails, with a reason that says so) and is made
    whatever the policy's *on*. Named apart from :class:`Retry`, the policy
    (RQ's name, kept). A JoblaneError, as every class joblane exports.
    """

    def __init__(self, defer: int | float = 0) -> None:
        number = _number("RetryJob.defer", defer)
        if not 0 <= number <= MAX_DURATION:
            raise InvalidJobError(
                f"RetryJob.defer must be from 0 to {MAX_DURATION} seconds, not {defer!r}"
            )
        super().__init__(f"the job asked to be retried in {number:g} s")
        self.defer = float(number)


def retry_delay(intervals: Sequence[float], retry_number: int) -> float:
    """Seconds to wait before retry number *retry_number* (1-based)."""
    if not intervals:
        return 0.0
    return float(intervals[min(retry_number, len(intervals)) - 1])


def exception_names(on: object) -> tuple[str, ...]:
    """The dotted names of *on* (exception classes or names), checked;
    builtins by their bare name (``TimeoutError``)."""
    if isinstance(on, str | type):
        on = (on,)
    if not isinstance(on, list | tuple):
        raise InvalidJobError(f"Retry.on must be exception classes or names, not {on!r}")
    names = []
    for item in on:
        if isinstance(item, type) and issubclass(item, BaseException):
            names.append(exception_name(item))
        elif isinstance(item, str) and item and all(p.isidentifier() for p in item.split(".")):
            names.append(item.removeprefix("builtins."))
        else:
            raise InvalidJobError(
                f"Retry.on must be exception classes or dotted names, not {_shown(item)}"
            )
    return tuple(names)


def exception_name(cls: type[BaseException]) -> str:
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def retries_on(on: Sequence[str], error: BaseException) -> bool:
    """Whether a policy retrying *on* these names retries *error*: yes for an
    empty *on*, else if the error's class or a base class is named."""
    if not on:
        return True
    return any(exception_name(cls) in on for cls in type(error).__mro__)


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidJobError(f"{name} must be a number, not {_shown(value)}")
    if value != value or value in (float("inf"), float("-inf")):
        raise InvalidJobError(f"{name} must be a finite number, not {value!r}")
    return value


def _check_interval(interval: object, given: object) -> None:
    try:
        if seconds("Retry.interval", interval, whole=False) >= 0:
            return
    except InvalidJobError as error:
        if interval is given:
            raise
        raise InvalidJobError(f"{error} (in {_shown(given)})") from None
    raise InvalidJobError(f"Retry.interval must be seconds >= 0 or a list of them, not {given!r}")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
