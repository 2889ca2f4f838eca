"""The JSON shapes of seed 000's monitoring API, built from job records and counts.

::

    @rq-queues                        {"@id", "items": [queue, ...]}
    @rq-queues/{queue}                queue = {"@id", "name", "count", "registries": [summary x 6]}
    @rq-queues/{queue}/{registry}     {"@id", "name", "count", "items": [job, ...]}
    @rq-job/{queue}/{job_id}          job, or {} when the queue holds no such job

The ``@id`` values are relative, exactly as the seed shows them. A job has the
seed's thirteen keys, in the seed's order (:data:`JOB_FIELDS`); timestamps
are ``2026-06-03T08:00:00`` (UTC, no offset) or null where unset.

A job whose stored record does not decode (written by another version, a bug
or a hand edit: see ``JobRecord.undecodable``), or whose arguments, result or
times cannot be shown, is still shown, never an error for its page: with one
more key, ``undecodable``, which names the field and what is wrong with it.
Its other keys hold what could be read (``args`` is ``[]`` and the
description ``func(?)`` when the arguments cannot be read; a value that
cannot be read is null, or the default of a required field: created 1970).

A registry page is encoded job by job (:func:`registry_page_bytes`), so that
it can stop at a byte budget: jobs are never all decoded at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson

from joblane.core.clock import isoformat
from joblane.core.job import JobRecord
from joblane.core.serialization import decode_call, loads
from joblane.core.states import Registry
from joblane.errors import CorruptRecordError

JOB_FIELDS = (
    "id",
    "description",
    "args",
    "created",
    "enqueued",
    "ended",
    "scheduled",
    "func_name",
    "retries_left",
    "return_value",
    "ttl",
    "result_ttl",
    "last_job_result",
)

QUEUES_ID = "@rq-queues"


def queue_id(queue: str) -> str:
    return f"{QUEUES_ID}/{queue}"


def registry_id(queue: str, registry: Registry) -> str:
    return f"{QUEUES_ID}/{queue}/{registry.value}"


def describe_call(func_name: str, args: Iterable[Any], kwargs: Mapping[str, Any]) -> str:
    """``package.module.func('https://example.com/page', retries=2)``, as RQ shows a job."""
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"{func_name}({', '.join(parts)})"


def job_json(record: JobRecord) -> dict[str, Any]:
    """One job, with exactly the seed's keys in the seed's order, plus
    ``undecodable`` for a job that does not decode (see the module docstring)."""
    problems = [record.undecodable] if record.undecodable else []

    def decoded(field: str, decode: Callable[[], Any], instead: Any) -> Any:
        try:
            return decode()
        except (ValueError, TypeError, OverflowError, OSError) as error:
            problems.append(str(CorruptRecordError(record.id, field, str(error))))
            return instead

    args, kwargs = decoded("payload", lambda: decode_call(record.payload), ([], None))
    job = {
        "id": record.id,
        "description": (
            f"{record.func_name}(?)"
            if kwargs is None
            else describe_call(record.func_name, args, kwargs)
        ),
        "args": args,
        "created": decoded("created", lambda: isoformat(record.created), isoformat(0.0)),
        "enqueued": decoded("enqueued", lambda: isoformat(record.enqueued), None),
        "ended": decoded("ended", lambda: isoformat(record.ended), None),
        "scheduled": decoded("scheduled", lambda: isoformat(record.scheduled), None),
        "func_name": record.func_name,
        "retries_left": record.retries_left,
        "return_value": decoded("result", lambda: _loads_or_none(record.result), None),
        "ttl": record.ttl,
        "result_ttl": record.result_ttl,
        "last_job_result": record.last_job_result,
    }
    if problems:
        job["undecodable"] = problems[0]
    return job


def _loads_or_none(value: bytes | None) -> Any:
    return None if value is None else loads(value)


def registry_summary(queue: str, registry: Registry, count: int) -> dict[str, Any]:
    return {"@id": registry_id(queue, registry), "name": registry.value, "count": count}


def queue_json(queue: str, count: int, registry_counts: Mapping[Registry, int]) -> dict[str, Any]:
    """One queue: its queued count and its six registries in the seed's order."""
    return {
        "@id": queue_id(queue),
        "name": queue,
        "count": count,
        "registries": [registry_summary(queue, r, registry_counts[r]) for r in Registry],
    }


def queue_list_json(queues: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {"@id": QUEUES_ID, "items": list(queues)}


def registry_page_json(
    queue: str, registry: Registry, count: int, records: Iterable[JobRecord]
) -> dict[str, Any]:
    """One page of a registry; *count* is the whole registry's, not the page's."""
    return {
        "@id": registry_id(queue, registry),
        "name": registry.value,
        "count": count,
        "items": [job_json(r) for r in records],
    }


def registry_page_bytes(
    queue: str, registry: Registry, count: int, records: Iterable[JobRecord], budget: int
) -> tuple[bytes, int]:
    """One page of a registry as JSON, and how many of *records* it holds: them
    in order while the body stays within *budget* bytes, but always the first."""
    empty = orjson.dumps(registry_page_json(queue, registry, count, ()))
    head, tail = empty[: -len(b"]}")], b"]}"
    size = len(head) + len(tail)
    items: list[bytes] = []
    for record in records:
        item = orjson.dumps(job_json(record))
        size += len(item) + (1 if items else 0)  # the comma before it
        if items and size > budget:
            break
        items.append(item)
    return head + b",".join(items) + tail, len(items)
