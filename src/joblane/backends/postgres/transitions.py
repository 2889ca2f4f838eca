"""The state changes that take more than one statement, inside the caller's
transaction: the careful path of enqueue (duplicates, dependencies), the
dependents of an ended job, cron ticks, cancel and requeue.

Each applies a decision of joblane.core (rules.on_enqueue, rules.released,
rules.on_parent_ended, rules.cancel, rules.requeue), made in Python on the
rows it locked (``FOR UPDATE``), and writes it as bound values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from joblane.backends.base import TickClaim
from joblane.backends.decoding import failed_settlement, json_strings
from joblane.backends.postgres.queries import Queries
from joblane.backends.postgres.records import (
    Row,
    decode_job,
    job_record,
    job_row,
    job_status,
)
from joblane.core import rules
from joblane.core.job import DEFAULT_FAILURE_TTL, JobRecord, expiry
from joblane.core.outcome import Settlement
from joblane.core.rules import Dependents
from joblane.core.states import LIVE_STATUSES, JobStatus
from joblane.errors import CorruptRecordError, DuplicateJobError, NoSuchJobError

Connection = psycopg.Connection[Any]


def store_carefully(
    conn: Connection, q: Queries, jobs: Sequence[JobRecord], unique: bool, retrying: bool = False
) -> list[JobRecord]:
    """Store *jobs* one by one, each decided against the stored rows (locked)
    and the batch's earlier jobs. *retrying*: the jobs repeat an enqueue whose
    reply was lost; a stored job with the same id and created time is that
    enqueue's, returned as it is."""
    ids = sorted({job.id for job in jobs} | {dep for job in jobs for dep in job.depends_on})
    stored: dict[str, tuple[JobStatus, float]] = {
        job_id: (job_status(status, job_id), created)
        for job_id, status, created in conn.execute(q.lock_jobs, {"ids": ids}).fetchall()
    }
    batch: dict[str, JobRecord] = {}
    order: list[str] = []
    for job in jobs:
        if job.id in batch:
            existing: JobStatus | None = batch[job.id].status
        elif job.id in stored:
            existing, created = stored[job.id]
            if retrying and created == job.created:
                order.append(job.id)  # the lost enqueue stored it
                continue
        else:
            existing = None
        if existing in LIVE_STATUSES:
            if unique:
                order.append(job.id)
                continue
            raise DuplicateJobError(job.id)
        for dep in job.depends_on:
            if dep not in batch and dep not in stored:
                raise NoSuchJobError(dep)
        batch[job.id] = job
        order.append(job.id)
    status = {job_id: value for job_id, (value, _) in stored.items()}
    records = _insert_in_order(conn, q, batch, status)
    return [records[job_id] if job_id in records else _get(conn, q, job_id) for job_id in order]


def _insert_in_order(
    conn: Connection, q: Queries, batch: dict[str, JobRecord], status: dict[str, JobStatus]
) -> dict[str, JobRecord]:
    records: dict[str, JobRecord] = {}
    for job in batch.values():
        if job.id in status:  # an ended job with this id: replaced
            conn.execute(q.delete_replaced, {"id": job.id})
        record = rules.on_enqueue(job, [status.get(dep) for dep in job.depends_on])
        conn.execute(q.insert_job, job_row(record))
        if record.status is JobStatus.DEFERRED:
            params = {"dependent": job.id, "dependencies": list(job.depends_on)}
            conn.execute(q.link_dependencies, params)
        status[job.id] = record.status
        records[job.id] = record
    return records


def _get(conn: Connection, q: Queries, job_id: str) -> JobRecord:
    row = conn.execute(q.get_job, {"id": job_id}).fetchone()
    assert row is not None  # locked by store_carefully
    return job_record(row)


def dependents_of_ended(
    conn: Connection, q: Queries, job_id: str, status: JobStatus, now: float
) -> None:
    """Move the deferred jobs that wait for *job_id*, which ended as *status*."""
    action = rules.on_parent_ended(status)
    if action is Dependents.RELEASE:
        _release_dependents(conn, q, job_id, now)
    elif action is Dependents.CANCEL:
        _cancel_dependents(conn, q, job_id, now)


def _pop_dependents(conn: Connection, q: Queries, job_id: str) -> list[str]:
    rows = conn.execute(q.pop_dependents, {"id": job_id}).fetchall()
    return sorted(row[0] for row in rows)


def _release_dependents(conn: Connection, q: Queries, job_id: str, now: float) -> None:
    """Queue the deferred jobs that waited for *job_id* and wait for nothing else."""
    for dependent in _pop_dependents(conn, q, job_id):
        row = conn.execute(q.deferred_job, {"id": dependent}).fetchone()
        if row is None:
            continue
        depends_on, ttl, created, _ = row
        try:
            deps = json_strings(depends_on) if depends_on else ()
        except ValueError:
            deps = ()  # a corrupt row: released, and its claim moves it to failed
        found = dict(conn.execute(q.job_statuses, {"ids": list(deps)}).fetchall())
        statuses = [job_status(found[d], d) if d in found else None for d in deps]
        if not rules.released(statuses):
            continue
        entry = rules.queue_entry(now, ttl if type(ttl) is int else None, created)
        params = {"id": dependent, "now": entry.enqueued, "expires_at": entry.expires_at}
        conn.execute(q.release_dependent, params)


def _cancel_dependents(conn: Connection, q: Queries, job_id: str, now: float) -> None:
    """Cancel the deferred jobs that wait for *job_id*, and theirs, recursively."""
    status = rules.DEPENDENT_OF_FAILED.value
    pending = [job_id]
    while pending:
        for dependent in _pop_dependents(conn, q, pending.pop()):
            row = conn.execute(q.deferred_job, {"id": dependent}).fetchone()
            if row is None:
                continue
            failure_ttl = row[3] if type(row[3]) is int else DEFAULT_FAILURE_TTL
            params = {"id": dependent, "now": now, "status": status,
                      "expires_at": expiry(now, failure_ttl)}  # fmt: skip
            if conn.execute(q.cancel_deferred, params).rowcount:
                pending.append(dependent)


def claim_ticks(conn: Connection, q: Queries, claims: Sequence[TickClaim]) -> list[bool]:
    """Claim cron ticks and store the jobs of those claimed."""
    flags = []
    jobs = []
    for claim in claims:
        params = {"name": claim.schedule, "tick": float(claim.tick)}
        claimed = conn.execute(q.claim_tick, params).fetchone() is not None
        flags.append(claimed)
        if claimed:
            jobs.append(claim.job)
    if jobs:
        store_carefully(conn, q, jobs, unique=True)
    return flags


def lock(conn: Connection, q: Queries, job_id: str) -> JobRecord:
    row = conn.execute(q.lock_job, {"id": job_id}).fetchone()
    if row is None:
        raise NoSuchJobError(job_id)
    job_status(row[4], job_id)  # a status this version does not know: BackendError
    return job_record(row)


def cancel(conn: Connection, q: Queries, job_id: str, now: float) -> JobRecord:
    ending = rules.cancel(lock(conn, q, job_id), now)
    if ending is None:
        row = conn.execute(q.request_cancel, {"id": job_id}).fetchone()
        assert row is not None
        return job_record(row)
    params = {"id": job_id, "status": ending.status.value, "ended": ending.ended,
              "expires_at": ending.expires_at}  # fmt: skip
    row = conn.execute(q.cancel_job, params).fetchone()
    assert row is not None
    dependents_of_ended(conn, q, job_id, ending.status, now)
    return job_record(row)


def requeue(conn: Connection, q: Queries, job_id: str, now: float) -> JobRecord:
    entry = rules.requeue(lock(conn, q, job_id), now)
    params = {"id": job_id, "enqueued": entry.enqueued, "expires_at": entry.expires_at}
    row = conn.execute(q.requeue, params).fetchone()
    assert row is not None
    return job_record(row)


def flags_of(rows: list[Row], settlements: Sequence[Settlement]) -> list[bool]:
    """The flags of *settlements* from the settle statement's *rows*."""
    applied = {job_id for kind, job_id in rows if kind == "s"}
    flags = []
    for s in settlements:
        flags.append(s.job_id in applied)
        applied.discard(s.job_id)  # the same job twice in a batch: the first applies
    return flags


def settled(
    conn: Connection, q: Queries, rows: list[Row], settlements: Sequence[Settlement], now: float
) -> tuple[list[bool], bool]:
    """The flags of *settlements* from the settle statement's *rows*; moves the
    dependents of those that deferred jobs wait for (same transaction), and
    says whether there were any."""
    applied = {job_id for kind, job_id in rows if kind == "s"}
    linked = {job_id for kind, job_id in rows if kind == "d"}
    flags = []
    for s in settlements:
        flag = s.job_id in applied
        applied.discard(s.job_id)  # the same job twice in a batch: the first applies
        flags.append(flag)
        if flag and s.job_id in linked:
            dependents_of_ended(conn, q, s.job_id, s.status, now)
    return flags, bool(linked)


def claimed_jobs(rows: Sequence[Row], now: float) -> tuple[list[JobRecord], list[Settlement]]:
    jobs, failed = [], []
    for row in rows:
        try:
            jobs.append(decode_job(row))
        except CorruptRecordError:
            failed.append(failed_settlement(job_record(row), now))
    return jobs, failed
