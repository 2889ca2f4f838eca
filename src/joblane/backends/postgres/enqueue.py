"""Storing a batch of jobs: on the backend's own connection (its own
transaction) or on the app's (a savepoint of its transaction); and recognising,
after a lost connection, an enqueue that was stored."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, LiteralString

from psycopg import errors as pg_errors
from psycopg.pq import TransactionStatus

from joblane.backends.postgres import transitions
from joblane.backends.postgres.database import Connection
from joblane.backends.postgres.queries import Queries
from joblane.backends.postgres.records import (
    is_new,
    job_arrays,
    job_record,
    job_row,
    new_job_row,
    new_jobs_arrays,
)
from joblane.core.job import JobRecord
from joblane.errors import EnqueueOutcomeUnknownError


def store_jobs(
    conn: Connection,
    q: Queries,
    jobs: Sequence[JobRecord],
    unique: bool,
    retrying: bool,
) -> list[JobRecord]:
    """Store *jobs* (``Backend.enqueue``) on *conn*: with no transaction open (in
    autocommit mode) as its own transaction, else inside the open one
    (savepoints: a failure rolls back only what this call wrote). The common
    path is one INSERT of the batch."""
    if not retrying and not any(job.depends_on for job in jobs):
        try:
            if conn.info.transaction_status == TransactionStatus.IDLE:
                conn.execute(*insert(q, jobs))
            else:
                with conn.transaction():
                    conn.execute(*insert(q, jobs))
            return list(jobs)
        except pg_errors.UniqueViolation:
            pass  # an id is taken, or repeated in the batch: decide job by job
    for attempt in range(3):
        try:
            with conn.transaction():
                return transitions.store_carefully(conn, q, jobs, unique, retrying)
        except pg_errors.UniqueViolation:
            # Another transaction stored one of these ids meanwhile: decide again.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def insert(q: Queries, jobs: Sequence[JobRecord]) -> tuple[LiteralString, dict[str, Any]]:
    """The INSERT of *jobs* and its parameters: one job as a row of scalars
    (``insert_job``), a batch as one array per column (``insert_jobs``); new
    jobs (the common case) without the columns they leave at their defaults
    (``insert_new_job``), and a batch of new jobs that share their options with
    those bound once (``insert_new_jobs``)."""
    if len(jobs) == 1:
        job = jobs[0]
        return (q.insert_new_job, new_job_row(job)) if is_new(job) else (q.insert_job, job_row(job))
    params = new_jobs_arrays(jobs)
    if params is not None:
        return q.insert_new_jobs, params
    return q.insert_jobs, job_arrays(jobs)


def stored_by(conn: Connection, q: Queries, jobs: Sequence[JobRecord]) -> list[JobRecord] | None:
    """The jobs as stored if an enqueue of *jobs* whose reply was lost stored
    them (each id found with the same created time); None if it did not."""
    rows = conn.execute(q.stored_jobs, {"ids": [job.id for job in jobs]}).fetchall()
    created = dict(rows)
    if not all(created.get(job.id) == job.created for job in jobs):
        return None
    found = {row[0]: row for row in conn.execute(
        q.get_jobs, {"ids": [job.id for job in jobs]}).fetchall()}  # fmt: skip
    return [job_record(found[job.id]) if job.id in found else job for job in jobs]


def unknown(jobs: Sequence[JobRecord]) -> Callable[[str], EnqueueOutcomeUnknownError]:
    """The error of an enqueue of *jobs* whose outcome is unknown."""
    return lambda detail: EnqueueOutcomeUnknownError([job.id for job in jobs], detail)
