"""JobRecord <-> row, in the column order of the ``job_columns`` fragment.

Kept plain for the hot path: one tuple per job each way, no per-field objects.
Encodings: booleans as 0/1; ``retry_intervals`` and ``depends_on`` as JSON text
(SQL reads ``depends_on`` with json_each), ``meta`` and ``enqueued_by`` as JSON
bytes; NULL when empty. JSON keeps an int an int, so every field round-trips exactly.

A row that no joblane wrote (a value of the wrong type, JSON that does not
decode, an unknown status) is named by :func:`decode_job`'s
CorruptRecordError, or marked by :func:`job_record`: see
joblane.backends.decoding for where such a job ends up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson

from joblane.backends.base import WorkerInfo
from joblane.backends.decoding import (
    Reader,
    blob,
    integer,
    json_numbers,
    json_object,
    json_strings,
    number,
    optional,
    read_fields,
    shown,
    text,
)
from joblane.backends.decoding import status as status_of
from joblane.backends.decoding import worker_info as decoded_worker
from joblane.backends.encoding import json_ids, json_text, meta_json, worker_fields
from joblane.core.identity import identity_bytes, identity_from_json
from joblane.core.job import JobRecord
from joblane.core.states import JobStatus
from joblane.errors import BackendError, CorruptRecordError

Row = tuple[Any, ...]

JOB_COLUMNS = 29
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
            or job.enqueued_by is not None
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
        or job.enqueued_by is not None
    ):
        return None
    return (
        job.id, job.queue, job.func_name, job.payload, job.created, job.enqueued,
        job.job_timeout, job.result_ttl, job.failure_ttl, job.retries_left,
        1 if job.at_front else 0,
    )  # fmt: skip


def job_params(job: JobRecord) -> tuple[object, ...]:
    """The parameters of ``insert_job`` (?1..?29) for *job*."""
    return (
        job.id, job.queue, job.func_name, job.payload, _STATUS_TEXT[job.status], job.created,
        job.enqueued, job.started, job.ended, job.scheduled, job.job_timeout, job.result_ttl,
        job.ttl, job.failure_ttl, job.retries_left,
        json_text(job.retry_intervals), job.attempts, meta_json(job.meta),
        job.worker_name, job.result, job.last_job_result, json_text(job.depends_on),
        1 if job.at_front else 0, job.expires_at, job.lease_token, job.lease_expires,
        1 if job.cancel_requested else 0, job.lost_attempts,
        None if job.enqueued_by is None else identity_bytes(job.enqueued_by),
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


def decode_job(row: Row) -> JobRecord:
    """The JobRecord of a row whose first columns are ``job_columns``;
    CorruptRecordError naming the first column that does not decode."""
    record = _sound_record(row)
    if record is None:
        record, error = _read_columns(row)
        if error is not None:
            raise error
    return record


def job_record(row: Row) -> JobRecord:
    """As :func:`decode_job`, but a row that does not decode gives a record
    marked undecodable (see joblane.backends.decoding) instead of an error."""
    record = _sound_record(row)
    return _read_columns(row)[0] if record is None else record


_NUMBER = (int, float)
_OPT_NUMBER = (int, float, type(None))
_OPT_INT = (int, type(None))
_OPT_TEXT = (str, type(None))
_OPT_BLOB = (bytes, type(None))
_JSON = (str, bytes, type(None))
_COLUMN_TYPES = (
    str, str, str, bytes, str, _NUMBER, _OPT_NUMBER, _OPT_NUMBER, _OPT_NUMBER, _OPT_NUMBER,
    _OPT_NUMBER, int, _OPT_INT, int, int, _JSON, int, _JSON, _OPT_TEXT, _OPT_BLOB, _OPT_TEXT,
    _JSON, object, _OPT_NUMBER, _OPT_TEXT, _OPT_NUMBER, object, int, _JSON,
)  # fmt: skip
"""What each column must hold; checked at C speed before the record is built."""


_isinstance: Callable[[object, Any], bool] = isinstance


def _sound_record(row: Row) -> JobRecord | None:
    """The record of a row whose every column has its type and whose JSON
    decodes (the hot path), else None."""
    status = _STATUSES.get(row[4])
    if status is None or not all(map(_isinstance, row, _COLUMN_TYPES)):
        return None
    try:
        return JobRecord(
            row[0], row[1], row[2], row[3], status, row[5], row[6], row[7], row[8], row[9],
            row[10], row[11], row[12], row[13], row[14],
            json_numbers(row[15]) if row[15] else (),
            row[16], json_object(row[17]) if row[17] else {},
            row[18], row[19], row[20],
            json_strings(row[21]) if row[21] else (),
            bool(row[22]), row[23], row[24], row[25], bool(row[26]), row[27],
            identity_from_json(row[28]) if row[28] else None,
        )  # fmt: skip
    except ValueError:
        return None


_READERS: tuple[tuple[str, Reader], ...] = (
    ("id", text), ("queue", text), ("func_name", text), ("payload", blob),
    ("status", status_of), ("created", number), ("enqueued", optional(number)),
    ("started", optional(number)), ("ended", optional(number)),
    ("scheduled", optional(number)), ("job_timeout", optional(number)),
    ("result_ttl", integer), ("ttl", optional(integer)), ("failure_ttl", integer),
    ("retries_left", integer), ("retry_intervals", json_numbers), ("attempts", integer),
    ("meta", json_object), ("worker_name", optional(text)), ("result", optional(blob)),
    ("last_job_result", optional(text)), ("depends_on", json_strings), ("at_front", bool),
    ("expires_at", optional(number)), ("lease_token", optional(text)),
    ("lease_expires", optional(number)), ("cancel_requested", bool),
    ("lost_attempts", integer), ("enqueued_by", optional(identity_from_json)),
)  # fmt: skip
"""Each column's reader, in job_columns order (= JobRecord's field order)."""


def _read_columns(row: Row) -> tuple[JobRecord, CorruptRecordError | None]:
    job_id = row[0] if isinstance(row[0], str) else shown(row[0])
    # A claim's row has the position after the job columns: strict=False.
    fields = zip(_READERS, row, strict=False)
    return read_fields(job_id, ((name, read, raw) for (name, read), raw in fields))


def worker_params(info: WorkerInfo) -> dict[str, object]:
    """The ``register_worker`` parameters: the lists as JSON text."""
    fields = worker_fields(info)
    fields["queues"] = json_ids(info.queues)
    fields["current_jobs"] = json_ids(info.current_jobs)
    return fields


_WORKER_COLUMNS = (
    "name", "hostname", "pid", "queues", "concurrency", "started", "heartbeat", "expires",
    "current_jobs", "state",
)  # fmt: skip


def worker_info(row: Row) -> WorkerInfo:
    """The WorkerInfo of a ``live_workers`` row; ValueError if it does not decode."""
    return decoded_worker(dict(zip(_WORKER_COLUMNS, row, strict=True)), json_lists=True)
