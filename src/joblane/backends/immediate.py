"""The immediate backend: every job runs in the caller, at enqueue.

It is the memory backend plus an inline worker: ``enqueue`` stores the job,
then claims, runs and settles every queued job (and every due scheduled
one) before it returns, recording status, result and traceback exactly as a
worker would. For tests and development, and the default of setups that
want no worker at all (seed 002). No job timeout is enforced (the job runs
in the caller's thread), and a job runs as the caller, its ``enqueued_by``
not restored; a retry with an interval stays scheduled and runs
at the first enqueue (or :meth:`run_pending`) after it is due.
"""

from __future__ import annotations

from collections.abc import Sequence

from joblane.backends.base import Capabilities, TickClaim
from joblane.backends.memory import MemoryBackend
from joblane.core.identity import ignore
from joblane.core.job import JobRecord
from joblane.core.outcome import decide
from joblane.core.queues import DEFAULT_QUEUES
from joblane.worker.run import job_context, run_job

_LEASE = 365 * 24 * 3600.0  # the caller holds the job until it returns


class ImmediateBackend(MemoryBackend):
    capabilities = Capabilities(persistent=False, shared_between_processes=False, runs_inline=True)

    def __init__(self, url: str = "immediate://", **options: object) -> None:
        super().__init__(url, **options)  # type: ignore[arg-type]

    def enqueue(self, jobs: Sequence[JobRecord], *, unique: bool = False) -> list[JobRecord]:
        stored = super().enqueue(jobs, unique=unique)
        self.run_pending()
        return [self.get(job.id) or job for job in stored]

    def claim_ticks(self, claims: Sequence[TickClaim]) -> list[bool]:
        flags = super().claim_ticks(claims)
        if any(flags):
            self.run_pending()
        return flags

    def run_pending(self) -> int:
        """Run every queued and due job now, highest tier first; returns how many ran."""
        ran = 0
        while True:
            now = self.now()
            self.promote_due(now)
            names = self.queue_names()
            order = [q for q in DEFAULT_QUEUES if q in names]
            order += [q for q in names if q not in DEFAULT_QUEUES]
            _, claimed = self.claim(order, worker="immediate", limit=1, lease_seconds=_LEASE,
                                    now=now)  # fmt: skip
            if not claimed:
                return ran
            job = claimed[0]
            assert job.lease_token is not None
            # The job runs in the caller, as whoever the caller runs as: the
            # identity it was enqueued with needs no restoring.
            outcome = run_job(job.func_name, job.payload, None, job_context(job), restore=ignore)
            done = self.now()
            self.settle([decide(job, job.lease_token, outcome, done)], done)
            ran += 1
