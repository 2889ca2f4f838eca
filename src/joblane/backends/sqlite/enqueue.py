"""Storing a batch of jobs, inside the caller's write transaction.

The common path (no job has ``depends_on``) is one prepared INSERT per job,
run by ``executemany``, with no SELECT before it: the primary key finds a
duplicate id. Then, and for jobs with dependencies, the careful path reads the
batch's ids and dependencies first; joblane.core.rules.on_enqueue decides.
Either way the jobs stored (and those replaced) are added to the transaction's
kept counts (counts.py), but queued ones: their positions count them.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Sequence
from itertools import groupby
from operator import attrgetter

from joblane.backends.base import TickClaim
from joblane.backends.encoding import json_ids
from joblane.backends.sqlite.counts import Counts
from joblane.backends.sqlite.queries import QUERIES
from joblane.backends.sqlite.records import (
    job_params,
    job_record,
    job_status,
    plain_batches,
    plain_job_params,
)
from joblane.core import rules
from joblane.core.job import JobRecord
from joblane.core.states import LIVE_STATUSES, JobStatus
from joblane.errors import DuplicateJobError, NoSuchJobError


def store_jobs(
    sqlite: sqlite3.Connection, counts: Counts, jobs: Sequence[JobRecord], unique: bool
) -> list[JobRecord]:
    """Store *jobs* (``Backend.enqueue``) in the open transaction of *sqlite*.

    Returns the records as stored: on the common path, the very records passed.
    """
    if not any(map(_DEPENDS_ON, jobs)):
        try:
            _insert(sqlite, counts, jobs)
            return list(jobs)
        except sqlite3.IntegrityError:
            # An id is taken, or repeated in the batch: undo the rows inserted so
            # far and decide job by job.
            sqlite.execute("ROLLBACK")
            sqlite.execute("BEGIN IMMEDIATE")
    return store_carefully(sqlite, counts, jobs, unique)


_DEPENDS_ON = attrgetter("depends_on")

_BATCH_MIN = 16
"""From this many jobs on, a plain batch goes in as one JSON array."""


def _insert(sqlite: sqlite3.Connection, counts: Counts, jobs: Sequence[JobRecord]) -> None:
    """Insert *jobs* in order, each plain run of them with the short statement.
    Counted once every insert succeeded (an IntegrityError rolls them back)."""
    if len(jobs) >= _BATCH_MIN:
        runs = plain_batches(jobs)
        if runs is not None:
            for pairs, shared in runs:
                sqlite.execute(QUERIES.insert_plain_batch, (pairs, *shared))
            return  # queued jobs: counted by their positions (counts.py)
    plain = [plain_job_params(job) for job in jobs]
    for is_plain, run in groupby(zip(jobs, plain, strict=True), key=lambda jp: jp[1] is not None):
        if is_plain:
            rows = [params for _, params in run if params is not None]
            sqlite.executemany(QUERIES.insert_plain_job, rows)
        else:
            sqlite.executemany(QUERIES.insert_job, [job_params(job) for job, _ in run])
    if len(jobs) == 1:
        counts.add(jobs[0].queue, jobs[0].status)
    else:
        stored = Counter(zip(map(_QUEUE, jobs), map(_STATUS, jobs), strict=True))
        for (queue, status), n in stored.items():
            counts.add(queue, status, n)


_QUEUE = attrgetter("queue")
_STATUS = attrgetter("status")


def store_carefully(
    sqlite: sqlite3.Connection, counts: Counts, jobs: Sequence[JobRecord], unique: bool
) -> list[JobRecord]:
    ids = {job.id for job in jobs} | {dep for job in jobs for dep in job.depends_on}
    rows = sqlite.execute(QUERIES.job_statuses, {"ids": json_ids(sorted(ids))})
    stored_status = {job_id: job_status(value, job_id) for job_id, value in rows.fetchall()}
    batch: dict[str, JobRecord] = {}
    order: list[str] = []
    for job in jobs:
        existing = batch[job.id].status if job.id in batch else stored_status.get(job.id)
        if existing in LIVE_STATUSES:
            if unique:
                order.append(job.id)
                continue
            raise DuplicateJobError(job.id)
        for dep in job.depends_on:
            if dep not in batch and dep not in stored_status:
                raise NoSuchJobError(dep)
        batch[job.id] = job
        order.append(job.id)
    stored = _insert_in_order(sqlite, counts, batch, stored_status)
    return [stored[job_id] if job_id in stored else _get(sqlite, job_id) for job_id in order]


def _insert_in_order(
    sqlite: sqlite3.Connection,
    counts: Counts,
    batch: dict[str, JobRecord],
    status: dict[str, JobStatus],
) -> dict[str, JobRecord]:
    """Insert the jobs of *batch* in order; each sees the jobs stored before it
    (*status* is kept up to date) when its dependencies are looked at."""
    stored: dict[str, JobRecord] = {}
    for job in batch.values():
        if job.id in status:  # an ended job with this id: replaced
            rows = sqlite.execute(QUERIES.delete_job, {"id": job.id}).fetchall()
            for _, queue, old, position in rows:  # an ended job, so never a queued one
                counts.add(queue, old, -1)
                if old == JobStatus.QUEUED:
                    counts.dequeued(queue, [position])
            sqlite.execute(QUERIES.forget_links, {"id": job.id})
        record = rules.on_enqueue(job, [status.get(dep) for dep in job.depends_on])
        sqlite.execute(QUERIES.insert_job, job_params(record))
        counts.add(record.queue, record.status)
        if record.status is JobStatus.DEFERRED:
            sqlite.executemany(
                QUERIES.link_dependency,
                [{"dependency": dep, "dependent": job.id} for dep in job.depends_on],
            )
        status[job.id] = record.status
        stored[job.id] = record
    return stored


def _get(sqlite: sqlite3.Connection, job_id: str) -> JobRecord:
    return job_record(sqlite.execute(QUERIES.get_job, {"id": job_id}).fetchall()[0])


def claim_ticks(
    sqlite: sqlite3.Connection, counts: Counts, claims: Sequence[TickClaim]
) -> list[bool]:
    """Claim cron ticks (``Backend.claim_ticks``) and store the jobs of those
    claimed, in the open transaction of *sqlite*."""
    flags = []
    jobs = []
    for claim in claims:
        params = {"name": claim.schedule, "tick": claim.tick}
        claimed = sqlite.execute(QUERIES.claim_tick, params).rowcount == 1
        flags.append(claimed)
        if claimed:
            jobs.append(claim.job)
    if jobs:
        # The careful path: it never rolls back, which would undo the claims.
        store_carefully(sqlite, counts, jobs, unique=True)
    return flags
