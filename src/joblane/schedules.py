"""Cron schedules: :func:`cron` declares one, a worker runs it.

::

    cleanup = cron(cleanup_stale_invoices, hour=3, minute=0)          # arq's fields
    report = cron(send_report, "0 8 * * mon", timezone="Europe/Paris")  # a crontab line

    Worker(backend, schedules=[cleanup, report])     # or joblane worker --schedules pkg.mod:name

A :class:`Schedule` is a value: the function (by dotted name), when it fires
(a :class:`~joblane.core.cron.CronSpec`), the call's arguments and the
enqueue options of its jobs, checked once, when declared, as an enqueue
checks them. A worker's scheduler (worker/cron.py) builds one job per tick
with :meth:`Schedule.job` and has the backend claim the tick and store the
job in one atomic step, so each tick is enqueued once however many workers
run the schedule.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from joblane.building import build_job
from joblane.core.cron import DEFAULT_GRACE, MAX_GRACE, CronSpec, Missed, spec_from_fields
from joblane.core.job import JobRecord
from joblane.core.queues import DEFAULT_QUEUE
from joblane.errors import InvalidScheduleError
from joblane.tasks import function_name

META_KEY = "cron"
"""The meta key of a tick's job: ``{"schedule": name, "tick": POSIX seconds}``."""
REFUSED_OPTIONS = frozenset({"job_id", "depends_on", "unique"})
"""Enqueue options a schedule cannot take: each tick's job has an id of its own,
waits for no other job, and is unique per tick by the claim itself."""
_NAME = re.compile(r"[A-Za-z0-9_.:\-]{1,200}")
_UNSET: Any = object()


@dataclass(frozen=True, slots=True)
class Schedule:
    """A function enqueued at each tick of a cron spec (made by :func:`cron`)."""

    name: str
    """Identifies the schedule across workers (the ticks claimed are kept by name)."""
    func_name: str
    spec: CronSpec
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict, hash=False)
    queue: str = DEFAULT_QUEUE
    options: Mapping[str, Any] = field(default_factory=dict, hash=False)
    """Enqueue options of each tick's job (``retry``, ``job_timeout``, ``result_ttl``...)."""
    missed: Missed = Missed.SKIP
    grace: float = DEFAULT_GRACE

    def job(self, tick: float, now: float) -> JobRecord:
        """The job of *tick*, built at *now* as an enqueue builds one."""
        meta = {**(self.options.get("meta") or {}), META_KEY: {"schedule": self.name, "tick": tick}}
        options = {**self.options, "meta": meta}
        return build_job(self.queue, self.func_name, self.args, dict(self.kwargs), options,
                         now=now).record  # fmt: skip


def cron(
    func: Callable[..., Any] | str,
    expression: str | None = None,
    /,
    *,
    name: str | None = None,
    month: object = _UNSET,
    day: object = _UNSET,
    weekday: object = _UNSET,
    hour: object = _UNSET,
    minute: object = _UNSET,
    second: object = _UNSET,
    timezone: str = "UTC",
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    queue: str = DEFAULT_QUEUE,
    missed: str = "skip",
    grace: float = DEFAULT_GRACE,
    **options: Any,
) -> Schedule:
    """Run *func* on a schedule: arq's fields or a crontab line, not both.

    * Fields, as arq's ``cron``: ``month``, ``day``, ``weekday`` (Monday = 0,
      or ``"mon"``...), ``hour``, ``minute``, ``second``, each an int or a set
      of ints. Unset means every value, except ``second``, which is 0 unless
      given (``second=None``: every second). ``cron(f, hour=3, minute=0)`` is
      03:00 every day; ``cron(f, hour=3)`` each minute of 03:xx, as in arq.
      ``day`` with ``weekday``: both must match.
    * *expression*, a crontab line after the function: ``cron(f, "0 3 * * *")``
      (five fields, or six with seconds first; a line's day and weekday fields
      match either, as in cron).

    *timezone*: an IANA name, ``"UTC"`` by default (DST: see
    :mod:`joblane.core.cron`). *args*, *kwargs*: the call. *queue* and the
    other keywords: the options of each tick's job, as ``Queue.enqueue``
    takes them (``retry``, ``job_timeout``, ``result_ttl``, ``ttl``,
    ``failure_ttl``, ``meta``, ``at_front``). *name*: the schedule's name,
    the function's dotted name by default; give one to run a function on two
    schedules. *missed*: ``"skip"`` (default) or ``"run_once"``, for ticks
    missed while no worker ran it; a tick up to *grace* seconds late is not
    missed. Raises InvalidScheduleError, or what an enqueue raises for bad
    arguments and options.
    """
    fields = {"month": month, "day": day, "weekday": weekday, "hour": hour,
              "minute": minute, "second": second}  # fmt: skip
    given = {key: value for key, value in fields.items() if value is not _UNSET}
    if expression is not None:
        if not isinstance(expression, str):
            raise InvalidScheduleError(
                f"the second argument is a crontab line such as '0 3 * * *', not {expression!r}"
            )
        if given:
            raise InvalidScheduleError(
                f"give a crontab line or fields ({', '.join(given)}), not both"
            )
        spec = CronSpec(" ".join(expression.split()), timezone)
    else:
        spec = spec_from_fields(**given, timezone=timezone)
    refused = REFUSED_OPTIONS & options.keys()
    if refused:
        raise InvalidScheduleError(
            f"a schedule's jobs cannot take {', '.join(sorted(refused))}: each tick "
            "enqueues a job of its own, once"
        )
    meta = options.get("meta")
    if isinstance(meta, dict) and META_KEY in meta:
        raise InvalidScheduleError(f"meta[{META_KEY!r}] is set by the schedule: use another key")
    try:
        policy = Missed(missed)
    except ValueError:
        raise InvalidScheduleError(
            f"missed must be one of {', '.join(m.value for m in Missed)}, not {missed!r}"
        ) from None
    if isinstance(grace, bool) or not isinstance(grace, int | float) or not 0 <= grace <= MAX_GRACE:
        raise InvalidScheduleError(f"grace must be 0 to {MAX_GRACE:g} seconds, not {grace!r}")
    func_name = function_name(func)
    name = func_name if name is None else name
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidScheduleError(
            f"invalid schedule name {name!r}: use 1-200 ASCII letters, digits, '_', '.', ':' or '-'"
        )
    schedule = Schedule(
        name, func_name, spec, tuple(args), dict(kwargs or {}), queue, dict(options),
        policy, float(grace),
    )  # fmt: skip
    schedule.job(0.0, 0.0)  # every check an enqueue makes, now rather than at the first tick
    return schedule


def check_schedules(schedules: Sequence[Schedule]) -> tuple[Schedule, ...]:
    """*schedules* as a tuple; InvalidScheduleError for one that is not a
    Schedule, or for two with one name."""
    seen: dict[str, Schedule] = {}
    for schedule in schedules:
        if not isinstance(schedule, Schedule):
            raise InvalidScheduleError(
                f"schedules are made by joblane.cron(...), not {type(schedule).__name__}"
            )
        if schedule.name in seen:
            raise InvalidScheduleError(
                f"two schedules are called {schedule.name!r}: give one a name=... of its own"
            )
        seen[schedule.name] = schedule
    return tuple(schedules)
