"""The worker's side tasks, each a function you can call alone in a test.

* :func:`promote_due` - the scheduler: due scheduled jobs onto their queues.
* :func:`recover_expired` - the reaper: started jobs whose worker stopped
  renewing its lease are settled as lost (first in their queue again, up to
  ``max_lost`` times; given back if they had not begun).
* :func:`purge_expired` - housekeeping: jobs past their TTLs are deleted.

:class:`Every` decides when each is due on the monotonic clock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from joblane.backends.base import Backend
from joblane.core.outcome import DEFAULT_MAX_LOST, Outcome, settle, worker_lost_error

log = logging.getLogger("joblane.worker")


class Every:
    """A period on the monotonic clock: ``due()`` is true once per *seconds*."""

    def __init__(self, seconds: float, *, first: float = 0.0) -> None:
        self.seconds = seconds
        self.next = time.monotonic() + first

    def due(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        if now < self.next:
            return False
        self.next = now + self.seconds
        return True

    def remaining(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        return max(self.next - now, 0.0)


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
        settlements.append(settle(job, job.lease_token, outcome, now, max_lost=max_lost))
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
