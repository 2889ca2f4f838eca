"""core/cron.py: specs, ticks and the due decision, with time passed in."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from joblane.core.cron import (
    CronSpec,
    Missed,
    due_ticks,
    next_tick,
    spec_from_fields,
    ticks_after,
    zone,
)
from joblane.errors import InvalidScheduleError

NY = "America/New_York"


def at(text: str, tz: str = "UTC") -> float:
    return datetime.fromisoformat(text).replace(tzinfo=zone(tz)).timestamp()


def local(ts: float, tz: str) -> str:
    return datetime.fromtimestamp(ts, zone(tz)).isoformat()


def first(spec: CronSpec, after: float, n: int) -> list[float]:
    return list(itertools.islice(ticks_after(spec, after), n))


def test_arq_fields_mean_what_they_mean_in_arq() -> None:
    assert str(spec_from_fields(hour=3, minute=0)) == "0 3 * * *"
    # Unset fields are every value, second is 0 unless given: hour=3 alone is 03:00..03:59.
    assert str(spec_from_fields(hour=3)) == "* 3 * * *"
    assert str(spec_from_fields(minute={0, 30}, second={15})) == "15 0,30 * * * *"
    assert str(spec_from_fields(second=None)) == "* * * * * *"
    # Monday = 0 as in arq (datetime.weekday), names accepted; cron counts Sunday = 0.
    assert str(spec_from_fields(weekday="mon", hour=9, minute=0)) == "0 9 * * 1"
    assert str(spec_from_fields(weekday={5, 6})) == "* * * * 0,6"


def test_day_and_weekday_both_must_match_as_in_arq() -> None:
    friday_13 = spec_from_fields(day=13, weekday="fri", hour=0, minute=0)
    ticks = first(friday_13, at("2026-01-01T00:00:00"), 3)
    assert [local(t, "UTC")[:10] for t in ticks] == ["2026-02-13", "2026-03-13", "2026-11-13"]
    # A crontab line means either (Debian cron), and cronsim reads it so.
    either = CronSpec("0 0 13 * 5")
    assert local(first(either, at("2026-01-01T00:00:00"), 1)[0], "UTC")[:10] == "2026-01-02"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"hour": 24}, "hour 24 is out of range: 0-23"),
        ({"minute": -1}, "minute -1 is out of range"),
        ({"weekday": "monday"}, "weekday 'monday' is out of range: 0-6 or mon..sun"),
        ({"day": set()}, "day must be an int or a non-empty set of ints"),
        ({"month": True}, "month True is out of range"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
    ],
)
def test_bad_fields_are_named(fields: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidScheduleError, match=message.replace("(", r"\(")):
        spec_from_fields(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("expression", ["61 * * * *", "* * *", "0 3 * * * * *", "0 3 31 2 *"])
def test_bad_expressions_are_refused(expression: str) -> None:
    with pytest.raises(InvalidScheduleError, match="invalid cron expression"):
        CronSpec(expression)


def test_a_time_zone_places_the_ticks() -> None:
    spec = CronSpec("0 3 * * *", "Europe/Paris")
    assert local(first(spec, at("2026-06-01T00:00:00"), 1)[0], "UTC") == "2026-06-01T01:00:00+00:00"


def test_spring_forward_a_skipped_fixed_time_fires_once_after_the_jump() -> None:
    spec = CronSpec("30 2 * * *", NY)
    ticks = first(spec, at("2026-03-07T12:00:00", NY), 3)
    assert [local(t, NY) for t in ticks] == [
        "2026-03-08T03:00:00-04:00",  # 02:30 does not exist that day
        "2026-03-09T02:30:00-04:00",
        "2026-03-10T02:30:00-04:00",
    ]


def test_fall_back_a_repeated_fixed_time_fires_once_on_its_first_pass() -> None:
    spec = CronSpec("30 1 * * *", NY)
    ticks = first(spec, at("2026-10-31T12:00:00", NY), 2)
    assert [local(t, NY) for t in ticks] == [
        "2026-11-01T01:30:00-04:00",
        "2026-11-02T01:30:00-05:00",
    ]


def test_frequent_and_six_field_schedules_follow_the_real_clock() -> None:
    half_hourly = CronSpec("*/30 * * * *", NY)
    ticks = first(half_hourly, at("2026-11-01T00:45:00", NY), 5)
    assert [local(t, NY) for t in ticks] == [
        "2026-11-01T01:00:00-04:00",
        "2026-11-01T01:30:00-04:00",
        "2026-11-01T01:00:00-05:00",
        "2026-11-01T01:30:00-05:00",
        "2026-11-01T02:00:00-05:00",
    ]
    with_seconds = CronSpec("0 30 2 * * *", NY)
    assert local(first(with_seconds, at("2026-03-07T12:00:00", NY), 1)[0], NY) == (
        "2026-03-09T02:30:00-04:00"  # no 02:30 on the 8th
    )


def test_ticks_landing_on_one_instant_are_one_tick() -> None:
    spec = CronSpec("0,30 2 * * *", NY)
    ticks = first(spec, at("2026-03-08T00:00:00", NY), 2)
    assert [local(t, NY) for t in ticks] == [
        "2026-03-08T03:00:00-04:00",
        "2026-03-09T02:00:00-04:00",
    ]


def test_next_tick_is_strictly_after() -> None:
    every_second = spec_from_fields(second=None)
    assert next_tick(every_second, 100.0) == 101.0
    assert next_tick(every_second, 100.5) == 101.0
    assert next_tick(CronSpec("0 0 29 2 1"), 0.0) is not None


def test_due_on_time_and_within_grace() -> None:
    minutely = CronSpec("* * * * *")
    t = at("2026-06-01T12:00:00")
    assert due_ticks(minutely, last=t - 60, now=t) == [t]
    assert due_ticks(minutely, last=t, now=t + 59.9) == []
    # A tick a little late (a restart during it) is still due.
    assert due_ticks(minutely, last=t - 60, now=t + 30, grace=60) == [t]


def test_skip_forgets_missed_ticks() -> None:
    minutely = CronSpec("* * * * *")
    t = at("2026-06-01T12:00:00")
    assert due_ticks(minutely, last=t - 3600, now=t + 0.5, grace=10) == [t]
    assert due_ticks(minutely, last=t - 3600, now=t + 30, grace=10) == []


def test_run_once_runs_the_latest_missed_tick_late() -> None:
    minutely = CronSpec("* * * * *")
    t = at("2026-06-01T12:00:00")
    due = due_ticks(minutely, last=t - 3600, now=t + 30, grace=10, missed=Missed.RUN_ONCE)
    assert due == [t]
    due = due_ticks(minutely, last=t - 3600, now=t + 0.5, grace=10, missed=Missed.RUN_ONCE)
    assert due == [t - 60, t]
    # A schedule that has not started has nothing due.
    assert due_ticks(minutely, last=None, now=t + 30, grace=10, missed=Missed.RUN_ONCE) == []


def test_a_limit_bounds_one_call() -> None:
    every_second = spec_from_fields(second=None)
    assert due_ticks(every_second, last=0.0, now=1000.0, grace=1000, limit=3) == [1.0, 2.0, 3.0]


SPECS = [
    CronSpec("* * * * *"),
    CronSpec("*/7 * * * *", NY),
    CronSpec("30 1,2 * * *", NY),
    CronSpec("0 3 * * *", "Europe/Paris"),
    CronSpec("*/20 * * * * *", "Australia/Lord_Howe"),
    spec_from_fields(day={1, 8, 15}, weekday={0, 4}, hour=2, minute=30, timezone=NY),
]
# Around the 2026 DST changes of New York, Paris and Lord Howe Island.
AROUND = [at("2026-03-08T06:00:00"), at("2026-11-01T05:00:00"), at("2026-10-04T15:00:00"),
          at("2026-03-29T00:30:00")]  # fmt: skip


def brute_force(spec: CronSpec, last: float | None, now: float, missed: Missed,
                grace: float) -> list[float]:  # fmt: skip
    """due_ticks, spelled out over a plain forward walk."""
    if last is None:
        return []
    origin = (last if last is not None else now - grace - 1) - 1
    span = [t for t in itertools.takewhile(lambda t: t <= now, ticks_after(spec, origin))]
    span = [t for t in span if last is None or t > last]
    on_time = [t for t in span if t >= now - grace]
    late = [t for t in span if t < now - grace]
    if missed is Missed.RUN_ONCE and late:
        return [late[-1], *on_time]
    return on_time


@settings(max_examples=150, deadline=None)
@given(
    spec=st.sampled_from(SPECS),
    around=st.sampled_from(AROUND),
    offset=st.floats(-4 * 3600, 4 * 3600),
    gap=st.one_of(st.none(), st.floats(0, 6 * 3600)),
    grace=st.floats(0, 3600),
    missed=st.sampled_from(list(Missed)),
    on_a_tick=st.booleans(),
)
# Registered during New York's repeated hour, after its first-pass 01:30: the
# late tick is the one the forward walk from there gives (01:30 EST).
@example(spec=SPECS[2], around=AROUND[1], offset=3600.0, gap=1801.0, grace=0.0,
         missed=Missed.RUN_ONCE, on_a_tick=False)  # fmt: skip
def test_due_ticks_matches_the_forward_walk(
    spec: CronSpec, around: float, offset: float, gap: float | None, grace: float,
    missed: Missed, on_a_tick: bool,
) -> None:  # fmt: skip
    now = around + offset
    last = None
    if gap is not None:
        # The latest claimed tick, or the time the schedule started (any time).
        last = next_tick(spec, now - gap - 1) if on_a_tick else now - gap
        if last is None or last > now:
            last = None
    got = due_ticks(spec, last=last, now=now, missed=missed, grace=grace)
    assert got == brute_force(spec, last, now, missed, grace)
    assert got == sorted(set(got))
    assert all(t <= now and (last is None or t > last) for t in got)


@settings(max_examples=100, deadline=None)
@given(spec=st.sampled_from(SPECS), around=st.sampled_from(AROUND), offset=st.floats(-1e5, 1e5))
def test_ticks_strictly_increase_and_next_tick_is_the_first(
    spec: CronSpec, around: float, offset: float
) -> None:
    after = around + offset
    ticks = first(spec, after, 20)
    assert all(a < b for a, b in itertools.pairwise(ticks))
    assert ticks[0] > after
    assert next_tick(spec, after) == ticks[0]
    assert all(t == int(t) for t in ticks)


def test_str_shows_the_weekday_condition() -> None:
    assert str(spec_from_fields(day=1, weekday=0)) == "* * 1 * * and weekday 1"
    assert CronSpec("0 3 * * *").timezone == "UTC"
    assert zone("UTC") is UTC
