"""State changes of stored jobs, each run inside the caller's write transaction.

Every function here applies a decision made by joblane.core (outcome.decide,
the rules of joblane.core.rules): decided in Python inside the transaction
where the job is read anyway, else bound to the statement as data.

Each also adds the jobs it moves, stores or deletes to the transaction's kept
counts (*counts*, counts.py), from the records it read or the rows its
statements return, and the position of each job that leaves its queue
(Counts.dequeued): a change of status that is not added there makes the
counts wrong (tests/contract/test_sqlite_counts.py checks each against
count(*)).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from joblane.backends.base import RenewResult
from joblane.backends.decoding import failed_settlement
from joblane.backends.encoding import json_ids
from joblane.backends.sqlite.counts import Counts
from joblane.backends.sqlite.queries import QUERIES, claim_statement
from joblane.backends.sqlite.records import JOB_COLUMNS, Row, decode_job, job_record, job_status
from joblane.core import rules
from joblane.core.job import JobRecord
from joblane.core.outcome import Settlement, Start
from joblane.core.rules import Dependents
from joblane.core.states import JobStatus
from joblane.errors import CorruptRecordError, NoSuchJobError


def claim(
    sqlite: sqlite3.Connection,
    counts: Counts,
    queues: Sequence[str],
    *,
    worker: str,
    limit: int,
    lease_seconds: float,
    now: float,
    settle: Sequence[Settlement],
    starts: Sequence[Start],
    starting: int | None,
) -> tuple[list[bool], list[JobRecord], list[Settlement]]:
    flags = settle_all(sqlite, counts, settle, now, starts)
    names = list(dict.fromkeys(queues))
    if limit <= 0 or not names:
        return flags, [], []
    params = (now, worker, now + lease_seconds, limit, *names)
    rows = sqlite.execute(claim_statement(len(names)), params).fetchall()
    if len(names) == 1:
        counts.move(names[0], JobStatus.QUEUED, JobStatus.STARTED, len(rows))
        counts.dequeued(names[0], [row[JOB_COLUMNS] for row in rows])
    else:
        for row in rows:
            counts.move(row[1], JobStatus.QUEUED, JobStatus.STARTED)
            counts.dequeued(row[1], [row[JOB_COLUMNS]])
    # RETURNING gives rows in the order they were updated: put them in priority order.
    rank = {name: i for i, name in enumerate(names)}
    rows.sort(key=lambda row: (rank[row[1]], row[JOB_COLUMNS]))
    jobs, failed = _claimed_jobs(rows, now)
    if failed:
        # In this transaction: a row that does not decode costs only itself.
        settle_all(sqlite, counts, failed, now)
    # The first `starting` jobs begin now; the others were claimed ahead.
    beginning = jobs if starting is None else jobs[: max(starting, 0)]
    for job in beginning:
        job.started = now
    _mark_started(sqlite, [Start(j.id, j.lease_token or "", now) for j in beginning])
    return flags, jobs, failed


def _mark_started(sqlite: sqlite3.Connection, starts: Sequence[Start]) -> None:
    if starts:
        sqlite.executemany(
            QUERIES.mark_started,
            [{"id": s.job_id, "token": s.token, "started": s.started} for s in starts],
        )


def _claimed_jobs(rows: Sequence[Row], now: float) -> tuple[list[JobRecord], list[Settlement]]:
    """The jobs of claimed *rows*, and the settlements that move each row that
    does not decode to failed (joblane.backends.decoding)."""
    jobs, failed = [], []
    for row in rows:
        try:
            jobs.append(decode_job(row))
        except CorruptRecordError:
            failed.append(failed_settlement(job_record(row), now))
    return jobs, failed


def settle_all(
    sqlite: sqlite3.Connection,
    counts: Counts,
    settlements: Sequence[Settlement],
    now: float,
    starts: Sequence[Start] = (),
) -> list[bool]:
    _mark_started(sqlite, starts)
    linked = _linked_dependencies(sqlite, settlements)
    flags = []
    for s in settlements:
        if s.queue is not None:  # a job never changes queue: the one it was claimed in
            applied = sqlite.execute(QUERIES.settle, _settle_params(s)).rowcount == 1
            queue = s.queue
        else:
            rows = sqlite.execute(QUERIES.settle_returning, _settle_params(s)).fetchall()
            applied = bool(rows)
            queue = rows[0][0] if rows else ""
        flags.append(applied)
        if applied:
            counts.move(queue, JobStatus.STARTED, s.status)
            if s.job_id in linked:
                _dependents_of_ended(sqlite, counts, s.job_id, s.status, now)
    return flags


def _dependents_of_ended(
    sqlite: sqlite3.Connection, counts: Counts, job_id: str, status: JobStatus, now: float
) -> None:
    action = rules.on_parent_ended(status)
    if action is Dependents.RELEASE:
        _release_dependents(sqlite, counts, job_id, now)
    elif action is Dependents.CANCEL:
        _cancel_dependents(sqlite, counts, job_id, now)


def _linked_dependencies(sqlite: sqlite3.Connection, settlements: Sequence[Settlement]) -> set[str]:
    """The jobs of *settlements* that deferred jobs wait for (usually none).

    A started job is never deferred, so settling one job of the batch cannot
    link or unlink another: reading the links once, first, is enough."""
    ending = [s.job_id for s in settlements if rules.on_parent_ended(s.status) is not None]
    if not ending:
        return set()
    rows = sqlite.execute(QUERIES.linked_dependencies, {"ids": json_ids(ending)})
    return {row[0] for row in rows.fetchall()}


def _settle_params(s: Settlement) -> dict[str, object]:
    return {
        "id": s.job_id,
        "token": s.token,
        "status": s.status.value,
        "ended": s.ended,
        "result": s.result,
        "last_job_result": s.last_job_result,
        "retries_left": s.retries_left,
        "attempts": s.attempts,
        "scheduled": s.scheduled,
        "enqueued": s.enqueued,
        "expires_at": s.expires_at,
        "started": s.started,
        "lost_attempts": s.lost_attempts,
        "front": s.front,
    }


def _pop_dependents(sqlite: sqlite3.Connection, job_id: str) -> list[str]:
    rows = sqlite.execute(QUERIES.pop_dependents, {"id": job_id}).fetchall()
    return sorted(row[0] for row in rows)


def _release_dependents(
    sqlite: sqlite3.Connection, counts: Counts, job_id: str, now: float
) -> None:
    """Queue the deferred jobs that waited for *job_id* and wait for nothing else."""
    done = rules.DEPENDENCY_DONE.value
    for dependent in _pop_dependents(sqlite, job_id):
        params = {"id": dependent, "now": now, "done": done}
        for ttl, created, queue in sqlite.execute(QUERIES.release_dependent, params).fetchall():
            counts.move(queue, JobStatus.DEFERRED, JobStatus.QUEUED)
            entry = rules.queue_entry(now, _ttl(ttl), created)
            if entry.expires_at is not None:
                params = {"id": dependent, "expires_at": entry.expires_at}
                sqlite.execute(QUERIES.set_expiry, params)


def _ttl(value: object) -> int | None:
    """A stored ttl; one that is not a number (a corrupt row) counts as none."""
    return value if type(value) is int else None


def _cancel_dependents(sqlite: sqlite3.Connection, counts: Counts, job_id: str, now: float) -> None:
    """Cancel the deferred jobs that wait for *job_id*, and theirs, recursively."""
    # The job's fields other than failure_ttl do not matter to the decision:
    # the statement applies it to each dependent as data.
    status = rules.DEPENDENT_OF_FAILED.value
    pending = [job_id]
    while pending:
        for dependent in _pop_dependents(sqlite, pending.pop()):
            params = {"id": dependent, "now": now, "status": status}
            for (queue,) in sqlite.execute(QUERIES.cancel_deferred, params).fetchall():
                counts.move(queue, JobStatus.DEFERRED, status)
                pending.append(dependent)


def renew(
    sqlite: sqlite3.Connection, leases: Sequence[tuple[str, str]], lease_expires: float
) -> RenewResult:
    result = RenewResult()
    for job_id, token in leases:
        params = {"id": job_id, "token": token, "lease_expires": lease_expires}
        rows = sqlite.execute(QUERIES.renew, params).fetchall()
        if not rows:
            result.lost.append(job_id)
        elif rows[0][0]:
            result.cancel_requested.append(job_id)
    return result


def promote_due(sqlite: sqlite3.Connection, counts: Counts, now: float, limit: int) -> int:
    rows = sqlite.execute(QUERIES.due_jobs, {"now": now, "limit": limit}).fetchall()
    params = []
    for rowid, ttl, created, queue in rows:
        entry = rules.queue_entry(now, _ttl(ttl), created)
        params.append({"rowid": rowid, "enqueued": entry.enqueued, "expires_at": entry.expires_at})
        # Each row read is promoted: this transaction holds the write lock
        # since it read them scheduled.
        counts.move(queue, JobStatus.SCHEDULED, JobStatus.QUEUED)
    sqlite.executemany(QUERIES.promote, params)
    return len(rows)


def purge_expired(sqlite: sqlite3.Connection, counts: Counts, now: float, limit: int) -> int:
    rows = sqlite.execute(QUERIES.purge_expired, {"now": now, "limit": limit}).fetchall()
    for job_id, depends_on, queue, status, position in rows:
        counts.add(queue, status, -1)
        if status == JobStatus.QUEUED:
            counts.dequeued(queue, [position])
        if depends_on:
            sqlite.execute(QUERIES.forget_links, {"id": job_id})
    return len(rows)


def _read(sqlite: sqlite3.Connection, job_id: str) -> JobRecord:
    rows = sqlite.execute(QUERIES.get_job, {"id": job_id}).fetchall()
    if not rows:
        raise NoSuchJobError(job_id)
    job_status(rows[0][4], job_id)  # a status this version does not know: BackendError
    return job_record(rows[0])


def cancel(sqlite: sqlite3.Connection, counts: Counts, job_id: str, now: float) -> JobRecord:
    job = _read(sqlite, job_id)
    ending = rules.cancel(job, now)
    if ending is None:
        rows = sqlite.execute(QUERIES.request_cancel, {"id": job_id}).fetchall()
        return job_record(rows[0])
    params = {
        "id": job_id,
        "status": ending.status.value,
        "ended": ending.ended,
        "expires_at": ending.expires_at,
    }
    rows = sqlite.execute(QUERIES.cancel_job, params).fetchall()
    counts.move(rows[0][1], job.status, ending.status)  # the queue as stored
    if job.status is JobStatus.QUEUED:
        counts.dequeued(rows[0][1], [rows[0][JOB_COLUMNS]])
    _dependents_of_ended(sqlite, counts, job_id, ending.status, now)
    return job_record(rows[0])


def requeue(sqlite: sqlite3.Connection, counts: Counts, job_id: str, now: float) -> JobRecord:
    job = _read(sqlite, job_id)
    entry = rules.requeue(job, now)
    params = {"id": job_id, "enqueued": entry.enqueued, "expires_at": entry.expires_at}
    row = sqlite.execute(QUERIES.requeue, params).fetchall()[0]
    counts.move(row[1], job.status, JobStatus.QUEUED)  # the queue as stored
    return job_record(row)


def delete(sqlite: sqlite3.Connection, counts: Counts, job_id: str) -> bool:
    rows = sqlite.execute(QUERIES.delete_job, {"id": job_id}).fetchall()
    if not rows:
        return False
    depends_on, queue, status, position = rows[0]
    counts.add(queue, status, -1)
    if status == JobStatus.QUEUED:
        counts.dequeued(queue, [position])
    if depends_on:
        sqlite.execute(QUERIES.forget_links, {"id": job_id})
    return True
