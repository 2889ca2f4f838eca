"""How far ahead a worker claims, decided from how long its jobs take.

A pure function of the recent average job duration and the slot count: the
worker applies the plan (claim size, pipeline depth) itself.
"""

from __future__ import annotations

from dataclasses import dataclass

BATCH_WINDOW = 0.005
"""Claim ahead at most about this much work (judged by recent job durations):
fast jobs are claimed and settled in batches, one transaction per batch, while
a job of a higher tier that arrives meanwhile waits at most about this long."""
MAX_BATCH = 100
PIPELINE_BELOW = 0.001
"""Jobs shorter than this on average are sent to a slot while it still runs the
previous one, so that the slot does not idle between two of them."""


@dataclass(frozen=True, slots=True)
class BatchPlan:
    ahead: int
    """Jobs worth claiming beyond the free slots: as many as fit in BATCH_WINDOW."""
    depth: int
    """Jobs a slot may hold at once: 2 pipelines very short jobs, else 1."""


NO_BATCH = BatchPlan(ahead=0, depth=1)


def plan_batch(avg_run: float | None, concurrency: int) -> BatchPlan:
    """The plan for jobs that take *avg_run* seconds on average (None: not known yet)."""
    if avg_run is None:
        return NO_BATCH
    fit = int(BATCH_WINDOW * concurrency / max(avg_run, 1e-6))
    return BatchPlan(ahead=min(fit, MAX_BATCH), depth=2 if avg_run < PIPELINE_BELOW else 1)
