"""Queue names, job ids and the default priority tiers.

Queue names and job ids share one safe charset so that they can appear in a
URL path segment, a Redis key and a log line without escaping:
ASCII letters, digits, ``_`` and ``-``; ``.`` is allowed inside a queue name
but never first (no ``..``). Queue names are 1-64 characters, job ids 1-128.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from joblane.errors import InvalidJobIdError, InvalidQueueNameError

DEFAULT_QUEUES: tuple[str, ...] = ("important", "normal", "low")
"""The default tiers, highest priority first; a worker serves them in this order."""

DEFAULT_QUEUE = "normal"

QUEUE_NAME_MAX = 64
JOB_ID_MAX = 128

_QUEUE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}")
_JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


_VALID_NAMES: set[str] = set()
"""Queue names already checked: a process uses a handful, checked per enqueue."""


def validate_queue_name(name: object) -> str:
    """Return *name* if it is a valid queue name, else raise InvalidQueueNameError."""
    if name.__class__ is str and name in _VALID_NAMES:
        return name
    if not isinstance(name, str):
        raise InvalidQueueNameError(
            f"queue name must be a str, not {type(name).__name__}: {name!r}"
        )
    if not _QUEUE_NAME.fullmatch(name) or ".." in name:
        raise InvalidQueueNameError(
            f"invalid queue name {name[:80]!r}: use 1-{QUEUE_NAME_MAX} ASCII letters, digits, "
            "'_', '-' or '.', not starting with '.'"
        )
    if len(_VALID_NAMES) < 10_000:
        _VALID_NAMES.add(name)
    return name


def validate_job_id(job_id: object) -> str:
    """Return *job_id* if it is a valid job id, else raise InvalidJobIdError."""
    if not isinstance(job_id, str):
        raise InvalidJobIdError(f"job id must be a str, not {type(job_id).__name__}: {job_id!r}")
    if not _JOB_ID.fullmatch(job_id):
        raise InvalidJobIdError(
            f"invalid job id {job_id[:80]!r}: use 1-{JOB_ID_MAX} ASCII letters, digits, '_' or '-'"
        )
    return job_id


def priority_order(queues: Iterable[str]) -> tuple[str, ...]:
    """Validate a worker's queue list, keeping its order (first = highest priority).

    Duplicates are dropped, keeping the first occurrence.
    """
    seen: dict[str, None] = {}
    for name in queues:
        seen.setdefault(validate_queue_name(name), None)
    if not seen:
        raise InvalidQueueNameError("a worker needs at least one queue")
    return tuple(seen)


def parse_queue_list(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"important,normal"`` or ``["important", "normal"]`` → a validated tuple."""
    items = text.split(",") if isinstance(text, str) else list(text)
    return priority_order(item.strip() for item in items if item.strip())
