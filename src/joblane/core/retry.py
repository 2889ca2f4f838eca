"""Retry policy: how many times a failed job runs again, and after how long."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from joblane.core.limits import MAX_RETRIES, MAX_RETRY_INTERVALS, seconds
from joblane.errors import InvalidJobError


@dataclass(frozen=True, slots=True)
class Retry:
    """Run a failed job again up to *max* times.

    *interval* is seconds to wait before each retry: one number for all, or a
    list whose n-th item is the wait before the n-th retry (the last item
    repeats), as RQ's ``Retry``. The bounds are in :mod:`joblane.core.limits`:
    *max* at most 1,000,000, each interval at most 10 years, a list at most
    100 intervals.
    """

    max: int
    interval: int | float | Sequence[int | float] = 0

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
        intervals = self.intervals
        if len(intervals) > MAX_RETRY_INTERVALS:
            raise InvalidJobError(
                f"Retry.interval may list at most {MAX_RETRY_INTERVALS} intervals, "
                f"not {len(intervals)}"
            )
        for interval in intervals:
            _check_interval(interval, self.interval)

    @property
    def intervals(self) -> tuple[float, ...]:
        if isinstance(self.interval, int | float):
            return (self.interval,)
        return tuple(self.interval) or (0,)


def retry_delay(intervals: Sequence[float], retry_number: int) -> float:
    """Seconds to wait before retry number *retry_number* (1-based)."""
    if not intervals:
        return 0.0
    return float(intervals[min(retry_number, len(intervals)) - 1])


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
