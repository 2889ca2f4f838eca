"""Time as a value: the core never reads a clock, callers pass ``now``.

Timestamps are POSIX seconds (float, UTC). ``Clock`` is the seam a worker or
a test uses to decide what ``now`` is.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch, UTC."""
        ...


class SystemClock:
    """The machine's wall clock."""

    def now(self) -> float:
        return time.time()


def to_datetime(ts: float | None) -> datetime | None:
    """A POSIX timestamp as an aware UTC datetime (None stays None)."""
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def to_timestamp(value: datetime) -> float:
    """An aware datetime as POSIX seconds; a naive one is taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def isoformat(ts: float | None) -> str | None:
    """Seed 000's timestamp format: ``2026-06-03T08:00:00`` (UTC, no offset)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).replace(tzinfo=None).isoformat(timespec="seconds")
