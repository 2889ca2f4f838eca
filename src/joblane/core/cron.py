"""Cron schedules as values, and every decision about their ticks.

::

    CronSpec(expression, timezone, weekdays)    what a schedule fires on
      ticks_after(spec, t)       ->  the ticks after t, in order (POSIX seconds)
      next_tick(spec, t)         ->  the first of them, or None
      due_ticks(spec, last=, now=, missed=, grace=)  ->  the ticks to enqueue now

Parsing and matching are cronsim's (it follows Debian's cron, DST quirks
included); this module only turns its datetimes into POSIX seconds, keeps
them strictly increasing, and decides which ticks are due. Nothing here reads
a clock: *now* and the last claimed tick are given.

Time zones (IANA names, ``"UTC"`` by default) come from :mod:`zoneinfo`.
What a DST change does to a tick is cronsim's (Debian's) rule:

* a five-field expression at a fixed minute and hour (``"30 2 * * *"``): a
  tick in the hour skipped when clocks spring forward fires once at the first
  minute after the jump (03:00); a tick in the hour repeated when clocks fall
  back fires once, on its first pass (01:30 summer time);
* every other expression (``*`` or a step in the minute or hour field, or a
  seconds field) follows the real clock: a skipped 02:30 does not fire that
  day, a repeated 01:30 fires on both passes.

Two ticks that land on the same instant (``"0,30 2 * * *"`` on a
spring-forward day) are one tick.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from joblane.errors import InvalidScheduleError

DEFAULT_TIMEZONE = "UTC"
DEFAULT_GRACE = 60.0
"""Seconds a tick may be late and still count as on time (a scheduler that
was busy, a worker restarted during the tick); older ones were missed."""
MAX_GRACE = 24 * 3600.0
MAX_TICKS_PER_RUN = 1000
"""At most this many ticks are decided per call; the scheduler calls again."""

ARQ_WEEKDAYS = ("mon", "tues", "wed", "thurs", "fri", "sat", "sun")
"""arq's weekday names, Monday = 0 as ``datetime.weekday()``."""
_FIELD_RANGES = {
    "second": range(0, 60),
    "minute": range(0, 60),
    "hour": range(0, 24),
    "day": range(1, 32),
    "month": range(1, 13),
    "weekday": range(0, 7),
}


class Missed(StrEnum):
    """What a scheduler makes of ticks missed while no scheduler ran (older
    than the grace period when it looks)."""

    SKIP = "skip"
    """Forget them: the next tick fires on time."""
    RUN_ONCE = "run_once"
    """One late job for the latest missed tick, then on time again."""


@dataclass(frozen=True, slots=True)
class CronSpec:
    """When a schedule fires: a cron *expression* (five fields, or six with the
    seconds first, as cronsim reads it) in *timezone*; *weekdays* (cron's
    numbering, Sunday = 0), when set, must match as well (arq's ``day`` with
    ``weekday``: both, where a crontab line means either)."""

    expression: str
    timezone: str = DEFAULT_TIMEZONE
    weekdays: frozenset[int] | None = None

    def __post_init__(self) -> None:
        zone(self.timezone)
        try:
            CronSim(self.expression, datetime(2000, 1, 1))
        except (CronSimError, ValueError, IndexError) as exc:
            raise InvalidScheduleError(
                f"invalid cron expression {self.expression!r}: {exc or 'cannot be read'} "
                "(five fields: minute hour day month weekday, or six with seconds first)"
            ) from None

    def __str__(self) -> str:
        if self.weekdays is None:
            return self.expression
        days = ",".join(str(d) for d in sorted(self.weekdays))
        return f"{self.expression} and weekday {days}"


def zone(name: object) -> tzinfo:
    """The time zone called *name* (an IANA name such as ``"Europe/Paris"``)."""
    if not isinstance(name, str) or not name:
        raise InvalidScheduleError(f"a time zone is an IANA name such as 'UTC', not {name!r}")
    if name == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidScheduleError(f"unknown time zone {name!r}") from None


def _values(field: str, value: object) -> list[int] | None:
    """An arq field (an int, or a collection of ints; None: every value) as
    sorted ints, checked against the field's range."""
    if value is None:
        return None
    items: list[object]
    if isinstance(value, int | str):
        items = [value]
    elif isinstance(value, Collection) and value:
        items = list(value)
    else:
        raise InvalidScheduleError(
            f"{field} must be an int or a non-empty set of ints, not {value!r}"
        )
    out = []
    for item in items:
        if field == "weekday" and isinstance(item, str) and item.lower() in ARQ_WEEKDAYS:
            item = ARQ_WEEKDAYS.index(item.lower())
        if isinstance(item, bool) or not isinstance(item, int) or item not in _FIELD_RANGES[field]:
            allowed = _FIELD_RANGES[field]
            names = " or mon..sun" if field == "weekday" else ""
            raise InvalidScheduleError(
                f"{field} {item!r} is out of range: {allowed.start}-{allowed.stop - 1}{names}"
            )
        out.append(item)
    return sorted(set(out))


def _field(values: list[int] | None) -> str:
    return "*" if values is None else ",".join(str(v) for v in values)


def spec_from_fields(
    *,
    month: object = None,
    day: object = None,
    weekday: object = None,
    hour: object = None,
    minute: object = None,
    second: object = 0,
    timezone: str = DEFAULT_TIMEZONE,
) -> CronSpec:
    """arq's ``cron(...)`` fields as a spec. Each is an int or a set of ints,
    None meaning every value; ``second`` defaults to 0, the others to every
    value (so ``hour=3`` alone fires each minute of 03:xx, as in arq);
    ``weekday`` counts from Monday = 0 (or ``"mon"``...); with ``day`` and
    ``weekday`` both set, both must match."""
    seconds = _values("second", second)
    days = _values("day", day)
    weekdays = _values("weekday", weekday)
    cron_days = None if weekdays is None else sorted((w + 1) % 7 for w in weekdays)
    both = days is not None and cron_days is not None
    fields = [
        _field(_values("minute", minute)),
        _field(_values("hour", hour)),
        _field(days),
        _field(_values("month", month)),
        "*" if both else _field(cron_days),
    ]
    if seconds != [0]:
        fields.insert(0, _field(seconds))
    condition = frozenset(cron_days) if both and cron_days is not None else None
    return CronSpec(" ".join(fields), timezone, condition)


def ticks_after(spec: CronSpec, after: float) -> Iterator[float]:
    """The ticks of *spec* strictly after *after* (POSIX seconds), strictly
    increasing; ends only if none comes within cronsim's horizon (50 years)."""
    tz = zone(spec.timezone)
    start = datetime.fromtimestamp(math.floor(after), tz)
    last = after
    for moment in CronSim(spec.expression, start):
        if spec.weekdays is not None and (moment.weekday() + 1) % 7 not in spec.weekdays:
            continue
        tick = moment.timestamp()
        # A naive (Debian-style) walk can give an instant at or before the
        # last one around a fall-back; ticks only go forward.
        if tick > last:
            last = tick
            yield tick


def next_tick(spec: CronSpec, after: float) -> float | None:
    """The first tick strictly after *after*, or None if there is none."""
    return next(ticks_after(spec, after), None)


FORWARD_WALK_LIMIT = 20_000
"""Ticks walked forward from the last claimed one to find the latest missed
tick; past that (a frequent schedule missed for long), a backward walk."""


def _latest_before(spec: CronSpec, before: float, floor: float) -> float | None:
    """The latest tick in (*floor*, *before*), or None.

    The forward walk from *floor* decides, as it does for on-time ticks: around
    a fall-back, which pass of a repeated hour fires depends on where a walk
    starts (cronsim's Debian rule), so a walk from elsewhere could disagree."""
    latest = None
    for count, tick in enumerate(ticks_after(spec, floor)):
        if tick >= before:
            return latest
        latest = tick
        if count >= FORWARD_WALK_LIMIT:
            return _latest_before_backward(spec, before, floor)
    return latest


def _latest_before_backward(spec: CronSpec, before: float, floor: float) -> float | None:
    """:func:`_latest_before` by a backward walk (for long gaps)."""
    tz = zone(spec.timezone)
    for moment in CronSim(spec.expression, datetime.fromtimestamp(math.ceil(before), tz),
                          reverse=True):  # fmt: skip
        tick = moment.timestamp()
        if tick <= floor:
            return None
        if tick >= before:
            continue
        if spec.weekdays is not None and (moment.weekday() + 1) % 7 not in spec.weekdays:
            continue
        # The reverse walk may land on a DST-adjusted instant the forward walk
        # never gives: keep only a tick the forward walk agrees with.
        if next_tick(spec, tick - 1) == tick:
            return tick
    return None


def due_ticks(
    spec: CronSpec,
    *,
    last: float | None,
    now: float,
    missed: Missed = Missed.SKIP,
    grace: float = DEFAULT_GRACE,
    limit: int = MAX_TICKS_PER_RUN,
) -> list[float]:
    """The ticks to enqueue at *now*, oldest first, given *last*, the latest
    tick claimed so far (or when the schedule started; None: it has not
    started, nothing is due).

    A tick after *last* and at or before *now* is due when it is at most
    *grace* seconds old. Older ones were missed: with :attr:`Missed.SKIP`
    they are forgotten; with :attr:`Missed.RUN_ONCE` the latest of them is due
    too (first). At most *limit* ticks, the oldest."""
    if last is None:
        return []
    start = now - grace
    # Ticks are whole seconds: T >= start  <=>  T > ceil(start) - 1.
    after: float = math.ceil(start) - 1
    ticks: list[float] = []
    if missed is Missed.RUN_ONCE and last < after:
        late = _latest_before(spec, math.ceil(start), last)
        if late is not None:
            ticks.append(late)
    for tick in ticks_after(spec, max(after, last)):
        if tick > now or len(ticks) >= limit:
            break
        ticks.append(tick)
    return ticks
