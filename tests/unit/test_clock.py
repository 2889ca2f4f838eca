"""Time as a value (joblane.core.clock, joblane.testing.ManualClock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from joblane.core.clock import SystemClock, isoformat, to_datetime, to_timestamp
from joblane.testing import ManualClock

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def test_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock()
    assert clock.now() == START
    assert clock.now() == START
    assert clock.advance(2.5) == START + 2.5
    assert clock.now() == START + 2.5
    clock.set(10.0)
    assert clock.now() == 10.0


def test_system_clock_is_close_to_datetime_now() -> None:
    assert abs(SystemClock().now() - datetime.now(UTC).timestamp()) < 5


def test_to_datetime_is_aware_utc() -> None:
    assert to_datetime(None) is None
    assert to_datetime(START) == datetime(2026, 1, 1, tzinfo=UTC)
    assert to_datetime(START).tzinfo is UTC  # type: ignore[union-attr]


def test_to_timestamp_of_aware_and_naive() -> None:
    assert to_timestamp(datetime(2026, 1, 1, tzinfo=UTC)) == START
    # naive means local time, as Python reads it
    assert to_timestamp(datetime(2026, 1, 1)) == datetime(2026, 1, 1).timestamp()
    plus_two = timezone(timedelta(hours=2))
    assert to_timestamp(datetime(2026, 1, 1, 2, tzinfo=plus_two)) == START


def test_isoformat() -> None:
    assert isoformat(None) is None
    assert isoformat(START) == "2026-01-01T00:00:00"
    assert isoformat(START + 3661.75) == "2026-01-01T01:01:01"
