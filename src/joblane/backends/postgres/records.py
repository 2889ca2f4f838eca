"""JobRecord <-> row of the PostgreSQL backend.

A row holds the fields in the order of the ``job_columns`` fragment, with the
types the SQLite backend reads back (text, bytea as bytes, double precision,
bigint, boolean; retry_intervals and depends_on as JSON text, meta and
enqueued_by as JSON bytes): the decoding, and the naming of a field that does
not decode (CorruptRecordError), is the one of ``joblane.backends.sqlite.records``.
Writing goes by columns: a batch is one array per field, bound to one statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter
from typing import Any

from joblane.backends.encoding import json_text, meta_json
from joblane.backends.sqlite.records import (
    JOB_COLUMNS,
    Row,
    decode_job,
    job_record,
    job_status,
    worker_info,
    worker_params,
)
from joblane.core.identity import identity_bytes
from joblane.core.job import JobRecord
from joblane.core.outcome import Settlement, Start

__all__ = [
    "JOB_COLUMNS",
    "Row",
    "decode_job",
    "job_arrays",
    "job_record",
    "job_row",
    "job_status",
    "new_job_row",
    "new_jobs_arrays",
    "settle_arrays",
    "worker_info",
    "worker_params",
]

_FIELDS = (
    "id", "queue", "func_name", "payload", "status", "created", "enqueued", "started", "ended",
    "scheduled", "job_timeout", "result_ttl", "ttl", "failure_ttl", "retries_left",
    "retry_intervals", "attempts", "meta", "worker_name", "result", "last_job_result",
    "depends_on", "at_front", "expires_at", "lease_token", "lease_expires", "cancel_requested",
    "lost_attempts", "enqueued_by",
)  # fmt: skip


def job_arrays(jobs: Sequence[JobRecord]) -> dict[str, list[Any]]:
    """The ``insert_jobs`` parameters: one list per column, one element per job."""
    columns: dict[str, list[Any]] = {name: [] for name in _FIELDS}
    for job in jobs:
        for name, value in zip(_FIELDS, _values(job), strict=True):
            columns[name].append(value)
    return columns


def job_row(job: JobRecord) -> dict[str, Any]:
    """The ``insert_job`` parameters: one value per column."""
    return dict(zip(_FIELDS, _values(job), strict=True))


# The fields a new job (never claimed) has at their column's default; is_new
# compares them to _NEW_DEFAULTS.
_DEFAULTED = attrgetter(
    "started", "ended", "worker_name", "result", "last_job_result", "lease_token",
    "lease_expires", "attempts", "cancel_requested", "lost_attempts", "depends_on",
)  # fmt: skip
_NEW_DEFAULTS = (None, None, None, None, None, None, None, 0, False, 0, ())
# The fields insert_new_jobs binds once for a whole batch (the rest: per job).
_SHARED = attrgetter(
    "queue", "func_name", "status", "job_timeout", "result_ttl", "ttl", "failure_ttl",
    "retries_left", "retry_intervals", "meta", "at_front", "enqueued_by",
)  # fmt: skip


def is_new(job: JobRecord) -> bool:
    """Whether *job* has every field that ``insert_new_job`` leaves out at its
    column's default: a job as built for an enqueue, without dependencies."""
    return _DEFAULTED(job) == _NEW_DEFAULTS


def new_job_row(job: JobRecord) -> dict[str, Any]:
    """The ``insert_new_job`` parameters of a job that :func:`is_new`."""
    return {
        "id": job.id, "queue": job.queue, "func_name": job.func_name, "payload": job.payload,
        "status": job.status.value, "created": float(job.created), "enqueued": _f(job.enqueued),
        "scheduled": _f(job.scheduled), "job_timeout": _f(job.job_timeout),
        "result_ttl": job.result_ttl, "ttl": job.ttl, "failure_ttl": job.failure_ttl,
        "retries_left": job.retries_left, "retry_intervals": json_text(job.retry_intervals),
        "meta": meta_json(job.meta), "at_front": job.at_front, "expires_at": _f(job.expires_at),
        "enqueued_by": None if job.enqueued_by is None else identity_bytes(job.enqueued_by),
    }  # fmt: skip


def new_jobs_arrays(jobs: Sequence[JobRecord]) -> dict[str, Any] | None:
    """The ``insert_new_jobs`` parameters of *jobs* if they all are new
    (:func:`is_new`) and share the fields it binds once (the first job's); None
    if not (``insert_jobs`` then)."""
    first = jobs[0]
    shared = _SHARED(first)
    if not all(_SHARED(job) == shared and _DEFAULTED(job) == _NEW_DEFAULTS for job in jobs):
        return None
    params = new_job_row(first)
    for name in ("id", "payload", "created", "enqueued", "scheduled", "expires_at"):
        del params[name]
    params["ids"] = [job.id for job in jobs]
    params["payloads"] = [job.payload for job in jobs]
    params["created"] = [float(job.created) for job in jobs]
    params["enqueued"] = [_f(job.enqueued) for job in jobs]
    params["scheduled"] = [_f(job.scheduled) for job in jobs]
    params["expires_at"] = [_f(job.expires_at) for job in jobs]
    return params


def _f(value: float | None) -> float | None:
    """A time as a float: psycopg types a list by its elements, and a float8[]
    column takes no mix of int and float."""
    return None if value is None else float(value)


def _values(job: JobRecord) -> tuple[Any, ...]:
    return (
        job.id, job.queue, job.func_name, job.payload, job.status.value, float(job.created),
        _f(job.enqueued), _f(job.started), _f(job.ended), _f(job.scheduled),
        _f(job.job_timeout), job.result_ttl, job.ttl, job.failure_ttl, job.retries_left,
        json_text(job.retry_intervals), job.attempts, meta_json(job.meta), job.worker_name,
        job.result, job.last_job_result, json_text(job.depends_on), job.at_front,
        _f(job.expires_at), job.lease_token, _f(job.lease_expires), job.cancel_requested,
        job.lost_attempts,
        None if job.enqueued_by is None else identity_bytes(job.enqueued_by),
    )  # fmt: skip


def settle_arrays(settlements: Sequence[Settlement], starts: Sequence[Start]) -> dict[str, Any]:
    """The ``settle`` parameters. A start of a job settled in the same batch
    goes with its settlement (``mark``): one statement must not update a row twice."""
    marks = {(s.job_id, s.token): s.started for s in starts}
    settled = {(s.job_id, s.token) for s in settlements}
    own_starts = [s for s in starts if (s.job_id, s.token) not in settled]
    return {
        "id": [s.job_id for s in settlements],
        "token": [s.token for s in settlements],
        "status": [s.status.value for s in settlements],
        "ended": [_f(s.ended) for s in settlements],
        "result": [s.result for s in settlements],
        "last_job_result": [s.last_job_result for s in settlements],
        "retries_left": [s.retries_left for s in settlements],
        "attempts": [s.attempts for s in settlements],
        "scheduled": [_f(s.scheduled) for s in settlements],
        "enqueued": [_f(s.enqueued) for s in settlements],
        "expires_at": [_f(s.expires_at) for s in settlements],
        "started": [_f(s.started) for s in settlements],
        "lost_attempts": [s.lost_attempts for s in settlements],
        "front": [s.front for s in settlements],
        "mark": [_f(marks.get((s.job_id, s.token))) for s in settlements],
        "start_ids": [s.job_id for s in own_starts],
        "start_tokens": [s.token for s in own_starts],
        "start_times": [float(s.started) for s in own_starts],
    }
