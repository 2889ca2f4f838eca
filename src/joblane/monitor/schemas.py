"""The JSON shapes of seed 000's monitoring API, built from job records and counts.

::

    @rq-queues                        {"@id", "items": [queue, ...]}
    @rq-queues/{queue}                queue = {"@id", "name", "count", "registries": [summary x 6]}
    @rq-queues/{queue}/{registry}     {"@id", "name", "count", "items": [job, ...]}
    @rq-job/{queue}/{job_id}          job, or {} when the queue holds no such job
    @rq-schedules                     {"@id", "items": [schedule, ...]}

The ``@id`` values are relative, exactly as the seed shows them. A job has the
seed's thirteen keys, in the seed's order (:data:`JOB_FIELDS`); timestamps
are ``2026-06-03T08:00:00`` (UTC, no offset) or null where unset.

A job's values are those of ``Job.to_dict()``: one function writes both
(:func:`joblane.core.jobjson.job_json`), and its docstring says how a job whose
stored record does not decode is still shown, never an error for its page:
with one more key, ``undecodable``, naming the field and what is wrong.

A registry page is encoded job by job (:func:`registry_page_bytes`), so that
it can stop at a byte budget: jobs are never all decoded at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from joblane.backends.base import ScheduleInfo
from joblane.core import jobjson
from joblane.core.clock import isoformat
from joblane.core.httptask import SEND, http_view
from joblane.core.job import JobRecord
from joblane.core.states import Registry

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


def job_json(record: JobRecord) -> dict[str, Any]:
    """One job, with exactly the seed's keys in the seed's order, plus
    ``enqueued_by`` for a job enqueued by someone (joblane.identity),
    ``http`` for an HTTP task (joblane.http: method, path, last response
    status) and ``undecodable`` for a job that does not decode (see the module
    docstring)."""
    job = jobjson.job_json(record, JOB_FIELDS)
    by = record.enqueued_by
    if by is not None:
        job["enqueued_by"] = by.to_json()
    if record.func_name == SEND and not record.undecodable:
        view = http_view(record.func_name, record.payload, record.result, record.last_job_result)
        if view is not None:
            job["http"] = view
    return job


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


SCHEDULES_ID = "@rq-schedules"


def schedule_list_json(schedules: Iterable[ScheduleInfo]) -> dict[str, Any]:
    """The cron schedules registered by live workers, as ``GET @rq-schedules``."""
    return {"@id": SCHEDULES_ID, "items": [schedule_json(s) for s in schedules]}


def schedule_json(s: ScheduleInfo) -> dict[str, Any]:
    return {
        "name": s.name,
        "func_name": s.func_name,
        "spec": s.spec,
        "timezone": s.timezone,
        "queue": s.queue,
        "missed": s.missed,
        "next_run": isoformat(s.next_run),
        "last_tick": isoformat(s.last_tick),
        "worker": s.worker,
        "heartbeat": isoformat(s.heartbeat),
    }
