"""The worker's side tasks, each a function you can call alone in a test.

* :func:`promote_due` - the scheduler: due scheduled jobs onto their queues.
* :func:`recover_expired` - the reaper: started jobs whose worker stopped
  renewing its lease are settled as lost (first in their queue again, up to
  ``max_lost`` times; given back if they had not begun).
* :func:`purge_expired` - housekeeping: jobs past their TTLs are deleted.

A worker keeps them, with lease renewal and registration, in one
:class:`SideTasks` table: a name, an interval (or a next due time the task
asks for), a function. Adding one is one more entry, as the cron schedules'
task (:mod:`joblane.worker.cron`) is.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from joblane.backends.base import Backend
from joblane.core.outcome import DEFAULT_MAX_LOST, Outcome, decide, worker_lost_error

log = logging.getLogger("joblane.worker")


@dataclass(slots=True)
class SideTask:
    """One entry of the table: *run* every *interval* seconds (of the table's
    clock). *run* gets the backend's ``now`` and may return a time of the
    table's clock at which it wants to run again, sooner than its interval (the
    scheduler does, for the next scheduled job it knows of)."""

    name: str
    interval: float
    run: Callable[[float], float | None]
    next: float = 0.0


class SideTasks:
    """The worker's side tasks, in the order they run when due.

    *clock* is monotonic seconds (``time.monotonic`` unless a test passes a
    ManualClock's): each step can be driven alone, at times the test chooses."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.tasks: dict[str, SideTask] = {}

    def add(
        self, name: str, interval: float, run: Callable[[float], float | None], *,
        first: float = 0.0,
    ) -> None:  # fmt: skip
        """Add *name*, first due *first* seconds from now (at once by default)."""
        if name in self.tasks:
            raise ValueError(f"a side task called {name!r} exists already")
        self.tasks[name] = SideTask(name, interval, run, self.clock() + first)

    def run_due(self, now: float) -> list[str]:
        """Run every task that is due, in table order; returns their names."""
        ran = []
        for task in list(self.tasks.values()):
            if self.clock() >= task.next:
                self._run(task, now)
                ran.append(task.name)
        return ran

    def run(self, name: str, now: float) -> None:
        """Run *name* now, whether due or not (its next run counts from now)."""
        self._run(self.tasks[name], now)

    def _run(self, task: SideTask, now: float) -> None:
        wanted = task.run(now)
        after = self.clock() + task.interval
        task.next = after if wanted is None else min(after, wanted)

    def remaining(self) -> float:
        """Seconds until the next task is due (0 if one is due now)."""
        if not self.tasks:
            return float("inf")
        return max(min(t.next for t in self.tasks.values()) - self.clock(), 0.0)


def _in_batches(step: Callable[[float, int], int], now: float, limit: int) -> int:
    """Call *step* until a call does less than *limit*; returns the total."""
    total = 0
    while True:
        done = step(now, limit)
        total += done
        if done < limit:
            return total


def promote_due(backend: Backend, now: float, limit: int = 1000) -> int:
    """Move every scheduled job due by *now* onto its queue; returns how many."""
    total = _in_batches(backend.promote_due, now, limit)
    if total:
        log.debug("scheduler: %d due job(s) moved to their queues", total)
    return total


def recover_expired(
    backend: Backend, now: float, limit: int = 100, *, max_lost: int = DEFAULT_MAX_LOST
) -> int:
    """Settle started jobs whose lease lapsed; returns how many this call settled."""
    expired = backend.expired_leases(now, limit)
    if not expired:
        return 0
    # Each goes first in its queue, so the one enqueued earliest is settled last.
    expired.sort(key=lambda job: (job.enqueued or job.created, job.id), reverse=True)
    settlements = []
    for job in expired:
        reason = worker_lost_error(
            f"worker {job.worker_name or '?'} stopped renewing the job's lease "
            "(killed, out of memory or partitioned) and is presumed dead"
        )
        assert job.lease_token is not None
        outcome = Outcome.lost(reason)
        settlements.append(decide(job, job.lease_token, outcome, now, max_lost=max_lost))
    applied = backend.settle(settlements, now)
    for job, ok, decided in zip(expired, applied, settlements, strict=True):
        if ok:
            how = "not begun, given back" if job.started is None else (
                f"lost {decided.lost_attempts} of {max_lost} times, {decided.status}"
            )  # fmt: skip
            log.warning(
                "job %s %s from %s recovered from lost worker %s: %s",
                job.id, job.func_name, job.queue, job.worker_name, how,
            )  # fmt: skip
    return sum(applied)


def purge_expired(backend: Backend, now: float, limit: int = 1000) -> int:
    """Delete jobs past their TTLs; returns how many."""
    total = _in_batches(backend.purge_expired, now, limit)
    if total:
        log.debug("housekeeping: %d expired job(s) deleted", total)
    return total
