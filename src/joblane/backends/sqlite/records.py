"""JobRecord <-> row, in the column order of the ``job_columns`` fragment.

Kept plain for the hot path: one tuple per job each way, no per-field objects.
Encodings: booleans as 0/1; ``retry_intervals`` and ``depends_on`` as JSON text
(SQL reads ``depends_on`` with json_each), ``meta`` as JSON bytes; NULL when
empty. JSON keeps an int an int, so every field round-trips exactly.

A value that no joblane wrote (an unknown status, undecodable JSON) raises
BackendError naming the job and the column's value, rather than a bare
ValueError from deep inside a listing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from joblane.backends.base import WorkerInfo
from joblane.core.job import JobRecord
from joblane.core.serialization import dumps
from joblane.core.states import JobStatus
from joblane.errors import BackendError

Row = tuple[Any, ...]

JOB_COLUMNS = 28
"""How many columns ``job_columns`` has; a statement that returns a queue
position returns it right after them (``row[JOB_COLUMNS]``)."""

_STATUSES = {status.value: status for status in JobStatus}
_STATUS_TEXT = {status: status.value for status in JobStatus}


def plain_batches(jobs: Sequence[JobRecord]) -> list[tuple[bytes, tuple[Any, ...]]] | None:
    """``insert_plain_batch`` runs for *jobs*: (JSON array of [id, payload], shared
    parameters ?2..?8) per run of jobs that share them. None unless every job
    is plain (see :func:`plain_job_params`), of one queue, not ``at_front``, and
    enqueued at its creation."""
    queue = jobs[0].queue
    runs: list[tuple[bytes, tuple[Any, ...]]] = []
    shared: tuple[Any, ...] = ()
    pairs: list[tuple[str, str]] = []
    for job in jobs:
        if (
            job.queue != queue or job.at_front or job.enqueued != job.created
            or job.status is not JobStatus.QUEUED or job.scheduled is not None
            or job.expires_at is not None or job.retry_intervals or job.meta
            or job.depends_on or job.attempts or job.started is not None
            or job.ended is not None or job.worker_name is not None
            or job.result is not None or job.last_job_result is not None
            or job.lease_token is not None or job.cancel_requested or job.lost_attempts
        ):  # fmt: skip
            return None
        key = (queue, job.func_name, job.created, job.job_timeout, job.result_ttl,
               job.failure_ttl, job.retries_left)  # fmt: skip
        if key != shared:
            if pairs:
                runs.append((orjson.dumps(pairs), shared))
            shared, pairs = key, []
        pairs.append((job.id, job.payload.decode()))
    runs.append((orjson.dumps(pairs), shared))
    return runs


def plain_job_params(job: JobRecord) -> tuple[object, ...] | None:
    """The parameters of ``insert_plain_job`` (?1..?11) for *job*, or None if it
    is not such a job (then :func:`job_params`)."""
    if (
        job.status is not JobStatus.QUEUED
        or job.enqueued is None
        or job.scheduled is not None
        or job.ttl is not None
        or job.expires_at is not None
        or job.retry_intervals
        or job.meta
        or job.depends_on
        or job.attempts
        or job.started is not None
        or job.ended is not None
        or job.worker_name is not None
        or job.result is not None
        or job.last_job_result is not None
        or job.lease_token is not None
        or job.lease_expires is not None
        or job.cancel_requested
        or job.lost_attempts
    ):
        return None
    return (
        job.id, job.queue, job.func_name, job.payload, job.created, job.enqueued,
        job.job_timeout, job.result_ttl, job.failure_ttl, job.retries_left,
        1 if job.at_front else 0,
    )  # fmt: skip


def job_params(job: JobRecord) -> tuple[object, ...]:
    """The parameters of ``insert_job`` (?1..?28) for *job*."""
    return (
        job.id, job.queue, job.func_name, job.payload, _STATUS_TEXT[job.status], job.created,
        job.enqueued, job.started, job.ended, job.scheduled, job.job_timeout, job.result_ttl,
        job.ttl, job.failure_ttl, job.retries_left,
        orjson.dumps(job.retry_intervals).decode() if job.retry_intervals else None,
        job.attempts, dumps(job.meta, "meta") if job.meta else None,
        job.worker_name, job.result, job.last_job_result,
        orjson.dumps(job.depends_on).decode() if job.depends_on else None,
        1 if job.at_front else 0, job.expires_at, job.lease_token, job.lease_expires,
        1 if job.cancel_requested else 0, job.lost_attempts,
    )  # fmt: skip


def job_status(value: Any, job_id: str) -> JobStatus:
    """The JobStatus stored as *value*; BackendError if it is none of them."""
    status: JobStatus | None = _STATUSES.get(value)
    if status is None:
        raise BackendError(
            f"job {job_id!r} has the status {value!r}, which this version of joblane does "
            "not know: the database was written by another version or edited by hand"
        )
    return status


def job_record(row: Row) -> JobRecord:
    """The JobRecord of a row whose first columns are ``job_columns``."""
    status = job_status(row[4], row[0])
    try:
        return JobRecord(
            row[0], row[1], row[2], row[3], status, row[5], row[6], row[7], row[8], row[9],
            row[10], row[11], row[12], row[13], row[14],
            tuple(orjson.loads(row[15])) if row[15] else (),
            row[16], orjson.loads(row[17]) if row[17] else {},
            row[18], row[19], row[20],
            tuple(orjson.loads(row[21])) if row[21] else (),
            bool(row[22]), row[23], row[24], row[25], bool(row[26]), row[27],
        )  # fmt: skip
    except (ValueError, TypeError) as exc:
        raise BackendError(f"job {row[0]!r} has a column that cannot be decoded: {exc}") from exc


def meta_param(meta: dict[str, object]) -> bytes | None:
    return dumps(meta, "meta") if meta else None


def worker_params(info: WorkerInfo) -> dict[str, object]:
    return {
        "name": info.name,
        "hostname": info.hostname,
        "pid": info.pid,
        "queues": orjson.dumps(info.queues).decode(),
        "concurrency": info.concurrency,
        "started": info.started,
        "heartbeat": info.heartbeat,
        "expires": info.expires,
        "current_jobs": orjson.dumps(info.current_jobs).decode(),
        "state": info.state,
    }


def worker_info(row: Row) -> WorkerInfo:
    return WorkerInfo(
        name=row[0],
        hostname=row[1],
        pid=row[2],
        queues=tuple(orjson.loads(row[3])),
        concurrency=row[4],
        started=row[5],
        heartbeat=row[6],
        expires=row[7],
        current_jobs=tuple(orjson.loads(row[8])),
        state=row[9],
    )
