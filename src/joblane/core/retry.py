"""Retry policy: how many times a failed job runs again, and after how long."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from joblane.errors import InvalidJobError


@dataclass(frozen=True, slots=True)
class Retry:
    """Run a failed job again up to *max* times.

    *interval* is seconds to wait before each retry: one number for all, or a
    list whose n-th item is the wait before the n-th retry (the last item
    repeats), as RQ's ``Retry``.
    """

    max: int
    interval: int | float | Sequence[int | float] = 0

    def __post_init__(self) -> None:
        if isinstance(self.max, bool) or not isinstance(self.max, int) or self.max < 0:
            raise InvalidJobError(f"Retry.max must be an int >= 0, not {self.max!r}")
        if isinstance(self.interval, bool) or not isinstance(
            self.interval, int | float | list | tuple
        ):
            raise InvalidJobError(
                f"Retry.interval must be seconds >= 0 or a list of them, not {self.interval!r}"
            )
        intervals = self.intervals
        if any(
            isinstance(i, bool) or not isinstance(i, int | float) or not math.isfinite(i) or i < 0
            for i in intervals
        ):
            raise InvalidJobError(
                f"Retry.interval must be seconds >= 0 or a list of them, not {self.interval!r}"
            )

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
