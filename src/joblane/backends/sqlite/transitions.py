"""State changes of stored jobs, each run inside the caller's write transaction.

Every function here applies a decision made elsewhere (by joblane.core, or in
the contract's words); the rules it checks are those of the memory backend,
which is the reference.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import orjson

from joblane.backends.base import RenewResult
from joblane.backends.decoding import failed_settlement
from joblane.backends.sqlite.queries import QUERIES, claim_statement
from joblane.backends.sqlite.records import JOB_COLUMNS, Row, decode_job, job_record, job_status
from joblane.core.job import JobRecord
from joblane.core.outcome import Settlement, Start
from joblane.core.states import CANCELABLE_STATUSES, REQUEUEABLE_STATUSES, JobStatus
from joblane.errors import CorruptRecordError, InvalidStateError, NoSuchJobError


def claim(
    sqlite: sqlite3.Connection,
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
    flags = settle_all(sqlite, settle, now, starts)
    names = list(dict.fromkeys(queues))
    if limit <= 0 or not names:
        return flags, [], []
    params = (now, worker, now + lease_seconds, limit, *names)
    rows = sqlite.execute(claim_statement(len(names)), params).fetchall()
    # RETURNING gives rows in the order they were updated: put them in priority order.
    rank = {name: i for i, name in enumerate(names)}
    rows.sort(key=lambda row: (rank[row[1]], row[JOB_COLUMNS]))
    jobs, failed = _claimed_jobs(rows, now)
    if failed:
        # In this transaction: a row that does not decode costs only itself.
        settle_all(sqlite, failed, now)
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
    settlements: Sequence[Settlement],
    now: float,
    starts: Sequence[Start] = (),
) -> list[bool]:
    _mark_started(sqlite, starts)
    linked = _linked_dependencies(sqlite, settlements)
    flags = []
    for s in settlements:
        cursor = sqlite.execute(QUERIES.settle, _settle_params(s))
        applied = cursor.rowcount == 1
        flags.append(applied)
        if not applied or s.job_id not in linked:
            continue
        if s.status is JobStatus.FINISHED:
            _release_dependents(sqlite, s.job_id, now)
        elif s.failed_for_good:
            _cancel_dependents(sqlite, s.job_id, now)
    return flags


def _linked_dependencies(sqlite: sqlite3.Connection, settlements: Sequence[Settlement]) -> set[str]:
    """The jobs of *settlements* that deferred jobs wait for (usually none).

    A started job is never deferred, so settling one job of the batch cannot
    link or unlink another: reading the links once, first, is enough."""
    ending = [s.job_id for s in settlements if s.status is JobStatus.FINISHED or s.failed_for_good]
    if not ending:
        return set()
    rows = sqlite.execute(QUERIES.linked_dependencies, {"ids": orjson.dumps(ending).decode()})
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


def _release_dependents(sqlite: sqlite3.Connection, job_id: str, now: float) -> None:
    """Queue the deferred jobs that waited for *job_id* and wait for nothing else."""
    for dependent in _pop_dependents(sqlite, job_id):
        sqlite.execute(QUERIES.release_dependent, {"id": dependent, "now": now})


def _cancel_dependents(sqlite: sqlite3.Connection, job_id: str, now: float) -> None:
    """Cancel the deferred jobs that wait for *job_id*, and theirs, recursively."""
    pending = [job_id]
    while pending:
        for dependent in _pop_dependents(sqlite, pending.pop()):
            cursor = sqlite.execute(QUERIES.cancel_deferred, {"id": dependent, "now": now})
            if cursor.rowcount:
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


def promote_due(sqlite: sqlite3.Connection, now: float, limit: int) -> int:
    rows = sqlite.execute(QUERIES.due_jobs, {"now": now, "limit": limit}).fetchall()
    sqlite.executemany(QUERIES.promote, [{"id": row[0], "now": now} for row in rows])
    return len(rows)


def purge_expired(sqlite: sqlite3.Connection, now: float, limit: int) -> int:
    rows = sqlite.execute(QUERIES.purge_expired, {"now": now, "limit": limit}).fetchall()
    for job_id, depends_on in rows:
        if depends_on:
            sqlite.execute(QUERIES.forget_links, {"id": job_id})
    return len(rows)


def _status(sqlite: sqlite3.Connection, job_id: str) -> JobStatus:
    rows = sqlite.execute(QUERIES.job_status, {"id": job_id}).fetchall()
    if not rows:
        raise NoSuchJobError(job_id)
    return job_status(rows[0][0], job_id)


def cancel(sqlite: sqlite3.Connection, job_id: str, now: float) -> JobRecord:
    status = _status(sqlite, job_id)
    if status in CANCELABLE_STATUSES:
        rows = sqlite.execute(QUERIES.cancel_job, {"id": job_id, "now": now}).fetchall()
        _cancel_dependents(sqlite, job_id, now)
    elif status is JobStatus.STARTED:
        rows = sqlite.execute(QUERIES.request_cancel, {"id": job_id}).fetchall()
    else:
        raise InvalidStateError(f"job {job_id!r} is {status}; it cannot be canceled")
    return job_record(rows[0])


def requeue(sqlite: sqlite3.Connection, job_id: str, now: float) -> JobRecord:
    status = _status(sqlite, job_id)
    if status not in REQUEUEABLE_STATUSES:
        raise InvalidStateError(
            f"job {job_id!r} is {status}; only failed, canceled or stopped jobs can be requeued"
        )
    return job_record(sqlite.execute(QUERIES.requeue, {"id": job_id, "now": now}).fetchall()[0])


def delete(sqlite: sqlite3.Connection, job_id: str) -> bool:
    rows = sqlite.execute(QUERIES.delete_job, {"id": job_id}).fetchall()
    if not rows:
        return False
    if rows[0][0]:
        sqlite.execute(QUERIES.forget_links, {"id": job_id})
    return True
