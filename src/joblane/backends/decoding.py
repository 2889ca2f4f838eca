"""Stored jobs that do not decode: the checks the persistent backends share,
and what becomes of such a job.

A record written by another version, a bug or a hand edit costs only itself.
Each backend's ``records.py`` has one decoding function per record format,
``decode_job``, which returns a JobRecord or raises
:class:`~joblane.errors.CorruptRecordError` naming the first bad field, and
``job_record``, which never raises: it returns what decoded, defaults for the
rest, and the error's text in ``JobRecord.undecodable``. A sound record is
decoded inline (the hot path); only one that fails goes field by field, with
the readers here, to name the field.

Where a bad record ends up:

* claimed: moved to failed at once, in the claim (SQLite: the same
  transaction; Redis: claim.lua itself for a field the script uses, else
  right after, under the new lease token), with ``last_job_result``
  ``CorruptRecordError: field 'meta' of job '...': ...`` and the default
  failure TTL if its own does not decode; the other jobs of the claim run;
* read (get, listings, lost-lease recovery, a cancel's reply): returned
  marked undecodable, never an exception for the whole call; recovery skips
  (and logs) a started job without a lease token, which nobody can settle;
* a worker registration: left out of ``workers()``, with a logged warning.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import orjson

from joblane.backends.base import ScheduleInfo, WorkerInfo
from joblane.core.job import JobRecord
from joblane.core.outcome import Outcome, Settlement, decide
from joblane.core.states import JobStatus
from joblane.errors import CorruptRecordError

log = logging.getLogger("joblane.backends")

Reader = Callable[[Any], Any]
"""Decodes one stored value; raises ValueError saying what is wrong with it."""

T = TypeVar("T")

SALVAGE_DEFAULTS: dict[str, Any] = {
    "queue": "",
    "func_name": "",
    "payload": b"",
    "status": JobStatus.FAILED,
    "created": 0.0,
}
"""What an undecodable record holds for a required field that did not decode
(the others take the JobRecord defaults). FAILED: such a job will not run."""

_STATUSES = {status.value: status for status in JobStatus}


def shown(value: object) -> str:
    """A stored value as a message shows it: its repr, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def read_fields(
    job_id: str, fields: Iterable[tuple[str, Reader, Any]]
) -> tuple[JobRecord, CorruptRecordError | None]:
    """The record of *fields* ``(name, reader, stored value)``, read one by one,
    and the error of the first that did not decode (then the record is marked)."""
    values: dict[str, Any] = {"id": job_id, **SALVAGE_DEFAULTS}
    error = None
    for name, read, raw in fields:
        try:
            values[name] = read(raw)
        except (ValueError, TypeError) as exc:
            if error is None:
                error = CorruptRecordError(job_id, name, f"{shown(raw)} is {exc}")
    if error is not None:
        values["undecodable"] = str(error)
    return JobRecord(**values), error


def failed_settlement(record: JobRecord, now: float) -> Settlement:
    """Move a claimed job that does not decode to failed, under its new lease."""
    assert record.lease_token is not None and record.undecodable is not None
    reason = f"{CorruptRecordError.__name__}: {record.undecodable}"
    return decide(record, record.lease_token, Outcome.failure(reason, retryable=False), now)


def report_failed(failed: Iterable[Settlement]) -> None:
    for settlement in failed:
        log.error("claim: job %s moved to failed: %s",
                  settlement.job_id, settlement.last_job_result)  # fmt: skip


def recoverable(records: Iterable[JobRecord]) -> list[JobRecord]:
    """Lost-lease records that can be settled: those with a lease token (one
    without cannot be, by anyone: it is reported and left as it is)."""
    kept = []
    for record in records:
        if record.lease_token is None:
            log.error("lost-lease recovery: job %s skipped: it has no lease token (%s)",
                      record.id, record.undecodable or "started without a lease")  # fmt: skip
        else:
            kept.append(record)
    return kept


# -- readers of Python values (SQLite's columns, decoded JSON) ----------------------


def status(raw: Any) -> JobStatus:
    found = _STATUSES.get(raw) if isinstance(raw, str) else None
    if found is None:
        raise ValueError("not a status this version of joblane knows")
    return found


def text(raw: Any) -> str:
    if type(raw) is not str:
        raise ValueError(f"{_kind(raw)}, not text")
    return raw


def blob(raw: Any) -> bytes:
    if type(raw) is not bytes:
        raise ValueError(f"{_kind(raw)}, not bytes")
    return raw


def number(raw: Any) -> float:
    if type(raw) is not float and type(raw) is not int:
        raise ValueError(f"{_kind(raw)}, not a number")
    return raw


def integer(raw: Any) -> int:
    if type(raw) is not int:
        raise ValueError(f"{_kind(raw)}, not an integer")
    return raw


def optional(read: Callable[[Any], T]) -> Callable[[Any], T | None]:
    return lambda raw: None if raw is None else read(raw)


def json_object(raw: bytes | str | None) -> dict[str, Any]:
    """JSON text of an object ({} when empty)."""
    value = _json(raw, {})
    if type(value) is not dict:
        raise ValueError(f"JSON of {_kind(value)}, not of an object")
    return value


def json_numbers(raw: bytes | str | None) -> tuple[float, ...]:
    """JSON text of a list of numbers (() when empty)."""
    value = _json(raw, [])
    if type(value) is not list or not all(type(v) is float or type(v) is int for v in value):
        raise ValueError("not the JSON of a list of numbers")
    return tuple(value)


def json_strings(raw: bytes | str | None) -> tuple[str, ...]:
    """JSON text of a list of strings (() when empty)."""
    value = _json(raw, [])
    if type(value) is not list or not all(type(v) is str for v in value):
        raise ValueError("not the JSON of a list of strings")
    return tuple(value)


def _json(raw: bytes | str | None, empty: object) -> Any:
    if not raw:
        return empty
    if not isinstance(raw, bytes | str):
        raise ValueError(f"{_kind(raw)}, not JSON text")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc})") from None


def _kind(value: object) -> str:
    name = type(value).__name__
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


# -- worker registrations --------------------------------------------------------------


def strings(raw: Any) -> tuple[str, ...]:
    if type(raw) is not list or not all(type(v) is str for v in raw):
        raise ValueError("not a list of strings")
    return tuple(raw)


_WORKER_FIELDS: dict[str, Reader] = {
    "name": text, "hostname": text, "pid": integer, "queues": strings, "concurrency": integer,
    "started": number, "heartbeat": number, "expires": number, "current_jobs": strings,
    "state": text,
}  # fmt: skip


def worker_info(data: Mapping[str, Any], *, json_lists: bool = False) -> WorkerInfo:
    """A WorkerInfo of its stored fields (with *json_lists*, queues and
    current_jobs are JSON text); ValueError naming a missing or bad one."""
    values = {}
    for name, read in _WORKER_FIELDS.items():
        if name not in data:
            raise ValueError(f"field {name!r} is missing")
        if json_lists and read is strings:
            read = json_strings
        try:
            values[name] = read(data[name])
        except ValueError as exc:
            raise ValueError(f"field {name!r}: {shown(data[name])} is {exc}") from None
    return WorkerInfo(**values)


def live_workers(rows: Iterable[T], decode: Callable[[T], WorkerInfo]) -> list[WorkerInfo]:
    """The WorkerInfo of each row that decodes; a row that does not is left
    out with a logged warning (a registration expires by itself anyway)."""
    infos = []
    for row in rows:
        try:
            infos.append(decode(row))
        except (ValueError, TypeError) as exc:
            log.warning("worker registration %s skipped: it cannot be decoded (%s)",
                        shown(row), exc)  # fmt: skip
    return infos


_SCHEDULE_FIELDS: dict[str, Reader] = {
    "name": text, "func_name": text, "spec": text, "timezone": text, "queue": text,
    "missed": text, "next_run": optional(number), "worker": text, "heartbeat": number,
    "expires": number, "last_tick": optional(number),
}  # fmt: skip


def schedule_info(data: Mapping[str, Any]) -> ScheduleInfo:
    """A ScheduleInfo of its stored fields; ValueError naming a missing or bad one."""
    values = {}
    for name, read in _SCHEDULE_FIELDS.items():
        try:
            values[name] = read(data.get(name))
        except ValueError as exc:
            raise ValueError(f"field {name!r}: {shown(data.get(name))} is {exc}") from None
    return ScheduleInfo(**values)


def live_schedules(rows: Iterable[T], decode: Callable[[T], ScheduleInfo]) -> list[ScheduleInfo]:
    """The ScheduleInfo of each row that decodes; one that does not is left out
    with a logged warning (a registration is refreshed or expires by itself)."""
    infos = []
    for row in rows:
        try:
            infos.append(decode(row))
        except (ValueError, TypeError) as exc:
            log.warning("schedule registration %s skipped: it cannot be decoded (%s)",
                        shown(row), exc)  # fmt: skip
    return sorted(infos, key=lambda info: info.name)
