"""Settling a batch on PostgreSQL: jobs given back to their queue take their
places in batch order (front or back) while the others of the batch end, a
settlement whose lease is no longer the job's changes nothing, and the jobs of
a claim whose reply was lost are found again by their tokens (reclaim)."""

from __future__ import annotations

import dataclasses
import secrets

from joblane.backends.postgres import PostgresBackend
from joblane.core.outcome import Outcome, OutcomeKind, decide
from joblane.core.states import JobStatus
from joblane.testing import ManualClock
from tests.contract.helpers import SUCCESS, claim, make_job

LOST = Outcome(OutcomeKind.LOST, error="the slot died")


def test_a_batch_gives_back_some_jobs_in_its_order_and_ends_the_others(
    pg: PostgresBackend,
) -> None:
    clock = ManualClock(pg.now())
    jobs = pg.enqueue([make_job(clock) for _ in range(6)])
    waiting = pg.enqueue([make_job(clock)])[0]
    taken = claim(pg, clock, limit=6)
    assert [job.id for job in taken] == [job.id for job in jobs]
    now = clock.now()
    started = [dataclasses.replace(job, started=now) for job in taken]  # began in slots
    outcomes = [SUCCESS, LOST, Outcome(OutcomeKind.INTERRUPTED), SUCCESS, LOST, LOST]
    stale = decide(started[0], "not-its-token", SUCCESS, now)
    batch = [decide(job, str(job.lease_token), outcome, now)
             for job, outcome in zip(started, outcomes, strict=True)]  # fmt: skip
    # The last two go to the back of the queue instead of its front.
    batch[4:] = [dataclasses.replace(s, front=False) for s in batch[4:]]
    assert pg.settle([stale], now) == [False]
    assert pg.settle(batch, now) == [True] * 6
    # Each given back in batch order: at the front (the later first) or the back.
    order = [job.id for job in pg.list_queued("normal")]
    assert order == [taken[2].id, taken[1].id, waiting.id, taken[4].id, taken[5].id]
    ended = pg.get_many([taken[0].id, taken[3].id])
    assert [job.status if job else None for job in ended] == [JobStatus.FINISHED] * 2
    lost = pg.get(taken[1].id)
    assert lost is not None and lost.lost_attempts == 1 and lost.worker_name is None


def test_the_jobs_of_a_claim_whose_reply_was_lost_are_found_by_their_tokens(
    pg: PostgresBackend,
) -> None:
    clock = ManualClock(pg.now())
    jobs = pg.enqueue([make_job(clock) for _ in range(3)])
    taken = claim(pg, clock, limit=2)
    tokens = [str(job.lease_token) for job in reversed(taken)] + [secrets.token_hex(8)]
    rows = pg._rows(pg.q.reclaim, {"tokens": tokens}, "reclaiming")
    found = sorted((row[-1], row[0]) for row in rows)
    assert found == [(1, taken[1].id), (2, taken[0].id)]
    assert [job.id for job in taken] == [jobs[0].id, jobs[1].id]
