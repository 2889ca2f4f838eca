"""A job record as JSON-ready values: the one place that writes a job as JSON.

``Job.to_dict()`` (what ``joblane job`` prints) takes :data:`JOB_DICT_FIELDS`;
the monitoring API takes seed 000's thirteen keys
(``joblane.monitor.schemas.JOB_FIELDS``). Each gets its keys in its order, and
the values are the same for both: timestamps as seed 000 shows them
(``2026-06-03T08:00:00``, UTC, no offset, or null), the return value decoded,
the call's ``description`` as RQ shows it, ``enqueued_by`` as
``{"user_id": ..., "context": {...}}`` or null.

Tolerant (the default, the monitor's way), a record that does not decode
(``JobRecord.undecodable``), or a value among the asked keys that cannot be
read (arguments, result, a time), never raises:
the job gets one more key, ``undecodable``, naming the field and what is
wrong, and the value is what could be read (``args`` ``[]``, ``kwargs`` ``{}``,
the description ``func(?)``, a time null, or 1970 for ``created``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from joblane.core.clock import isoformat
from joblane.core.job import JobRecord
from joblane.core.serialization import decode_call, loads
from joblane.errors import CorruptRecordError

JOB_DICT_FIELDS = (
    "id",
    "description",
    "func_name",
    "args",
    "kwargs",
    "queue",
    "status",
    "created",
    "enqueued",
    "started",
    "ended",
    "scheduled",
    "retries_left",
    "retry_intervals",
    "attempts",
    "lost_attempts",
    "job_timeout",
    "result_ttl",
    "ttl",
    "failure_ttl",
    "return_value",
    "last_job_result",
    "meta",
    "enqueued_by",
    "depends_on",
    "worker_name",
)
"""Every field of a job, in the order ``Job.to_dict()`` gives them."""

_CALL_KEYS = frozenset({"description", "args", "kwargs"})
_TIMES = frozenset({"created", "enqueued", "started", "ended", "scheduled"})
_LISTS = frozenset({"retry_intervals", "depends_on"})
_DECODE_ERRORS = (ValueError, TypeError, OverflowError, OSError)


def describe_call(func_name: str, args: Iterable[Any], kwargs: Mapping[str, Any]) -> str:
    """``package.module.func('https://example.com/page', retries=2)``, as RQ shows a job."""
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"{func_name}({', '.join(parts)})"


def job_json(
    record: JobRecord, keys: Sequence[str] = JOB_DICT_FIELDS, *, tolerant: bool = True
) -> dict[str, Any]:
    """The job's *keys*, in that order, JSON-ready; plus ``undecodable`` for a
    job that does not decode (see the module docstring). Not *tolerant*, a
    value that cannot be read raises its error instead (``Job.to_dict``)."""
    problems = [record.undecodable] if record.undecodable and tolerant else []

    def decoded(field: str, decode: Callable[[], Any], instead: Any) -> Any:
        try:
            return decode()
        except _DECODE_ERRORS as error:
            if not tolerant:
                raise
            problems.append(str(CorruptRecordError(record.id, field, str(error))))
            return instead

    call = None
    if not _CALL_KEYS.isdisjoint(keys):
        call = decoded("payload", lambda: decode_call(record.payload), None)
    job = {key: _value(record, key, call, decoded) for key in keys}
    if problems:
        job["undecodable"] = problems[0]
    return job


def _value(
    record: JobRecord,
    key: str,
    call: tuple[list[Any], dict[str, Any]] | None,
    decoded: Callable[[str, Callable[[], Any], Any], Any],
) -> Any:
    if key in _TIMES:
        instead = isoformat(0.0) if key == "created" else None
        return decoded(key, lambda: isoformat(getattr(record, key)), instead)
    if key == "description":
        return f"{record.func_name}(?)" if call is None else describe_call(record.func_name, *call)
    if key == "args":
        return [] if call is None else call[0]
    if key == "kwargs":
        return {} if call is None else call[1]
    if key == "return_value":
        result = record.result
        return None if result is None else decoded("result", lambda: loads(result), None)
    if key == "status":
        return record.status.value
    if key in _LISTS:
        return list(getattr(record, key))
    if key == "enqueued_by":
        by = record.enqueued_by
        return None if by is None else by.to_json()
    return getattr(record, key)
