"""The job record: what every backend stores and every layer passes around.

A plain slotted dataclass on purpose: it is built once per enqueue and once
per claim, so it carries no validation layer of its own. Validation happens
once, in :func:`new_job`, at enqueue time.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from joblane.core.queues import validate_job_id, validate_queue_name
from joblane.core.retry import Retry
from joblane.core.serialization import dumps, encode_call
from joblane.core.states import JobStatus
from joblane.errors import InvalidJobError, PayloadTooLargeError

DEFAULT_JOB_TIMEOUT = 180.0
DEFAULT_RESULT_TTL = 500
DEFAULT_FAILURE_TTL = 365 * 24 * 3600
DEFAULT_MAX_PAYLOAD = 512 * 1024
"""Bytes of encoded arguments and meta accepted per job (``JOBLANE_MAX_PAYLOAD``)."""

KEEP_FOREVER = -1


@dataclass(slots=True)
class JobRecord:
    """One job, as stored. Timestamps are POSIX seconds (UTC)."""

    id: str
    queue: str
    func_name: str
    payload: bytes
    """The call, encoded once: ``{"args": [...], "kwargs": {...}}``."""
    status: JobStatus
    created: float
    enqueued: float | None = None
    started: float | None = None
    ended: float | None = None
    scheduled: float | None = None
    """When a scheduled job becomes due (also set for a retry waiting its interval)."""
    job_timeout: float | None = DEFAULT_JOB_TIMEOUT
    result_ttl: int = DEFAULT_RESULT_TTL
    ttl: int | None = None
    failure_ttl: int = DEFAULT_FAILURE_TTL
    retries_left: int = 0
    retry_intervals: tuple[float, ...] = ()
    attempts: int = 0
    meta: dict[str, Any] = field(default_factory=dict)
    worker_name: str | None = None
    result: bytes | None = None
    """The return value, encoded as JSON; None before the job finished."""
    last_job_result: str | None = None
    """The traceback (or reason) of the last failed attempt."""
    depends_on: tuple[str, ...] = ()
    at_front: bool = False
    expires_at: float | None = None
    """When housekeeping deletes the job (queued past ttl, or ended past its TTL)."""
    lease_token: str | None = None
    lease_expires: float | None = None
    cancel_requested: bool = False

    def copy(self, **changes: Any) -> JobRecord:
        return replace(self, **changes)


def expiry(now: float, ttl: int) -> float | None:
    """When something kept for *ttl* seconds from *now* expires (None: never)."""
    return None if ttl == KEEP_FOREVER else now + ttl


def new_job_id() -> str:
    return uuid.uuid4().hex


def _seconds(name: str, value: object, *, allow_forever: bool, allow_none: bool) -> Any:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidJobError(f"{name} must be a number of seconds, not {value!r}")
    if allow_forever and value == KEEP_FOREVER:
        return int(value)
    if value < 0 or (value == 0 and name in ("job_timeout", "ttl")):
        raise InvalidJobError(f"{name} must be > 0 seconds, not {value!r}")
    return value


@dataclass(slots=True)
class JobOptions:
    """Options of one enqueue; every field is validated by :func:`new_job`."""

    job_id: str | None = None
    retry: Retry | int | None = None
    job_timeout: float | None = DEFAULT_JOB_TIMEOUT
    result_ttl: int = DEFAULT_RESULT_TTL
    ttl: int | None = None
    failure_ttl: int = DEFAULT_FAILURE_TTL
    meta: dict[str, Any] | None = None
    at_front: bool = False
    depends_on: Sequence[str] = ()
    unique: bool = False


def new_job(
    queue: str,
    func_name: str,
    args: Sequence[Any],
    kwargs: dict[str, Any],
    options: JobOptions,
    *,
    now: float,
    scheduled: float | None = None,
    max_payload: int = DEFAULT_MAX_PAYLOAD,
) -> JobRecord:
    """Validate one enqueue and build its record (status queued, or scheduled if
    *scheduled* is later than *now*). The backend may turn a queued job with
    dependencies into deferred or canceled, atomically with their state."""
    validate_queue_name(queue)
    job_id = new_job_id() if options.job_id is None else validate_job_id(options.job_id)
    payload = encode_call(args, kwargs, func_name)
    meta = options.meta or {}
    if not isinstance(meta, dict):
        raise InvalidJobError(f"meta must be a dict, not {type(meta).__name__}")
    size = len(payload) + (len(dumps(meta, "meta")) if meta else 0)
    if size > max_payload:
        raise PayloadTooLargeError(
            f"job payload of {func_name} is {size} bytes, over the limit of {max_payload} bytes"
        )
    retry = options.retry
    if isinstance(retry, int) and not isinstance(retry, bool):
        retry = Retry(max=retry)
    elif retry is not None and not isinstance(retry, Retry):
        raise InvalidJobError(f"retry must be a Retry or an int, not {retry!r}")
    timeout = options.job_timeout
    if timeout is not None and timeout == KEEP_FOREVER:
        timeout = None
    is_scheduled = scheduled is not None and scheduled > now
    return JobRecord(
        id=job_id,
        queue=queue,
        func_name=func_name,
        payload=payload,
        status=JobStatus.SCHEDULED if is_scheduled else JobStatus.QUEUED,
        created=now,
        enqueued=None if is_scheduled else now,
        scheduled=scheduled if is_scheduled else None,
        job_timeout=_seconds("job_timeout", timeout, allow_forever=False, allow_none=True),
        result_ttl=_seconds("result_ttl", options.result_ttl, allow_forever=True, allow_none=False),
        ttl=_seconds("ttl", options.ttl, allow_forever=False, allow_none=True),
        failure_ttl=_seconds(
            "failure_ttl", options.failure_ttl, allow_forever=True, allow_none=False
        ),
        retries_left=retry.max if retry else 0,
        retry_intervals=retry.intervals if retry else (),
        meta=meta,
        depends_on=tuple(validate_job_id(d) for d in options.depends_on),
        at_front=bool(options.at_front),
        expires_at=(now + options.ttl) if options.ttl and not is_scheduled else None,
    )
