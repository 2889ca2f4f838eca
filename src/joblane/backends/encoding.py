"""How the persistent backends encode what they store, where they agree: the
write side of :mod:`joblane.backends.decoding`, which reads it back.

* a list (``retry_intervals``; ``depends_on`` and id lists in SQL, which reads
  them with ``json_each``): JSON text, None when empty;
* ``meta``: JSON bytes (:func:`joblane.core.serialization.dumps`, which names
  a value that cannot be stored), None when empty;
* a worker registration: the fields of :func:`worker_fields`, its lists as
  lists (a store that keeps them as text: :func:`json_text`);
* a Redis job hash keeps ``depends_on`` as ``"a,b"`` (:func:`joined_ids`),
  which its scripts split without a JSON parser.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from joblane.backends.base import ScheduleInfo, WorkerInfo
from joblane.core.serialization import dumps


def json_text(values: Sequence[object]) -> str | None:
    """JSON text of a list; None when it is empty."""
    return orjson.dumps(values).decode() if values else None


def json_ids(ids: Sequence[str]) -> str:
    """JSON text of a list of ids, bound to a statement that reads it with json_each."""
    return orjson.dumps(ids).decode()


def meta_json(meta: dict[str, Any]) -> bytes | None:
    """A job's meta as stored; None when it is empty."""
    return dumps(meta, "meta") if meta else None


def joined_ids(ids: Sequence[str]) -> str:
    """Job ids as one text, ``","``-separated (ids cannot hold a comma)."""
    return ",".join(ids)


def split_ids(raw: str) -> tuple[str, ...]:
    """The ids of :func:`joined_ids` (() when empty)."""
    return tuple(raw.split(",")) if raw else ()


def worker_fields(info: WorkerInfo) -> dict[str, Any]:
    """A worker registration's stored fields (decoding.worker_info reads them)."""
    return {
        "name": info.name,
        "hostname": info.hostname,
        "pid": info.pid,
        "queues": list(info.queues),
        "concurrency": info.concurrency,
        "started": info.started,
        "heartbeat": info.heartbeat,
        "expires": info.expires,
        "current_jobs": list(info.current_jobs),
        "state": info.state,
    }


def schedule_fields(info: ScheduleInfo) -> dict[str, Any]:
    """A schedule registration's stored fields, without its claimed tick
    (decoding.schedule_info reads them)."""
    return {
        "name": info.name,
        "func_name": info.func_name,
        "spec": info.spec,
        "timezone": info.timezone,
        "queue": info.queue,
        "missed": info.missed,
        "next_run": info.next_run,
        "worker": info.worker,
        "heartbeat": info.heartbeat,
        "expires": info.expires,
    }
