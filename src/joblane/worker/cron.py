"""The worker's cron side task: enqueue each tick of its schedules, once.

Each run, at backend time *now*:

1. registers the schedules (``Backend.register_schedules``: name, spec, time
   zone, policy, next run), which returns the latest tick claimed for each;
2. asks :func:`joblane.core.cron.due_ticks` which ticks are due, given that
   tick, *now* and the schedule's missed-tick policy;
3. builds their jobs and has the backend claim each tick and store its job in
   one atomic step (``Backend.claim_ticks``): of several workers that race for
   a tick, one stores its job, the others store nothing;
4. asks to run again at the next tick of any schedule.

The registration lapses ``REGISTRATION_TTL`` seconds after the last run of a
worker that has the schedule, so ``joblane info`` and the API list the
schedules that some live worker runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from joblane.backends.base import Backend, ScheduleInfo, TickClaim
from joblane.core.clock import isoformat
from joblane.core.cron import MAX_TICKS_PER_RUN, due_ticks, next_tick
from joblane.errors import JoblaneError
from joblane.schedules import Schedule

log = logging.getLogger("joblane.worker")

CRON_INTERVAL = 5.0
"""The cron task runs at each tick, and at least this often (to keep the
registrations fresh)."""
REGISTRATION_TTL = 3 * CRON_INTERVAL


class CronScheduler:
    """Runs *schedules* for the worker *worker* on *backend*; *clock* is the
    side-task table's (monotonic) clock, in which :meth:`run` answers."""

    def __init__(
        self, backend: Backend, schedules: Sequence[Schedule], worker: str,
        clock: Callable[[], float],
    ) -> None:  # fmt: skip
        self.backend = backend
        self.schedules = tuple(schedules)
        self.worker = worker
        self.clock = clock
        self.enqueued = 0
        """Ticks this scheduler enqueued (others' claims of the same tick do not count)."""

    def run(self, now: float) -> float | None:
        """One run at backend time *now*; returns when (in :attr:`clock` time)
        the next tick is due, or None if no schedule has one."""
        infos = [self._registration(schedule, now) for schedule in self.schedules]
        last = self.backend.register_schedules(infos)
        claims: list[TickClaim] = []
        more = False
        for schedule in self.schedules:
            ticks = due_ticks(schedule.spec, last=last.get(schedule.name), now=now,
                              missed=schedule.missed, grace=schedule.grace)  # fmt: skip
            more = more or len(ticks) >= MAX_TICKS_PER_RUN
            for tick in ticks:
                try:
                    claims.append(TickClaim(schedule.name, tick, schedule.job(tick, now)))
                except JoblaneError:
                    # Checked when declared; a job that fails to build now (its
                    # @job defaults changed underneath) is logged, not retried.
                    log.exception("schedule %s: cannot build the job of tick %s",
                                  schedule.name, isoformat(tick))  # fmt: skip
        if claims:
            self._claim(claims, now)
        if more:
            return self.clock()
        upcoming = [info.next_run for info in infos if info.next_run is not None]
        if not upcoming:
            return None
        return self.clock() + max(min(upcoming) - now, 0.0)

    def _registration(self, schedule: Schedule, now: float) -> ScheduleInfo:
        return ScheduleInfo(
            name=schedule.name, func_name=schedule.func_name, spec=str(schedule.spec),
            timezone=schedule.spec.timezone, queue=schedule.queue,
            missed=schedule.missed.value, next_run=next_tick(schedule.spec, now),
            worker=self.worker, heartbeat=now, expires=now + REGISTRATION_TTL,
        )  # fmt: skip

    def _claim(self, claims: list[TickClaim], now: float) -> None:
        flags = self.backend.claim_ticks(claims)
        for claim, claimed in zip(claims, flags, strict=True):
            if not claimed:
                continue
            self.enqueued += 1
            late = now - claim.tick
            log.info(
                "schedule %s: tick %s enqueued as job %s%s", claim.schedule,
                isoformat(claim.tick), claim.job.id, f" ({late:.0f} s late)" if late >= 1 else "",
            )  # fmt: skip
