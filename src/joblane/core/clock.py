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
    """A datetime as POSIX seconds. A naive one is local time, as Python reads
    it (``datetime.now()``, ``datetime.timestamp``): the machine's time zone."""
    try:
        return value.timestamp()
    except (ValueError, OverflowError, OSError):
        # A naive time within a day of datetime.min or .max has no local
        # instant in range; as UTC it differs by the offset at most, and is
        # either long past (now) or over 10 years ahead (refused) all the same.
        return value.replace(tzinfo=UTC).timestamp()


def isoformat(ts: float | None) -> str | None:
    """Seed 000's timestamp format: ``2026-06-03T08:00:00`` (UTC, no offset)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).replace(tzinfo=None).isoformat(timespec="seconds")
