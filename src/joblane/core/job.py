"""The job record: what every backend stores and every layer passes around.

A plain slotted dataclass on purpose: it is built once per enqueue and once
per claim, so it carries no validation layer of its own. Validation happens
once, in :func:`new_job`, at enqueue time.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from itertools import repeat
from typing import Any

from joblane.core.identity import Identity
from joblane.core.limits import MAX_DURATION, seconds
from joblane.core.queues import validate_job_id, validate_queue_name
from joblane.core.retry import Retry
from joblane.core.serialization import dumps, encode_call, encode_calls
from joblane.core.states import JobStatus
from joblane.errors import InvalidJobError, PayloadTooLargeError, SerializationError

DEFAULT_JOB_TIMEOUT = 180.0
DEFAULT_RESULT_TTL = 500
DEFAULT_FAILURE_TTL = 365 * 24 * 3600
DEFAULT_MAX_PAYLOAD = 512 * 1024
"""Bytes of encoded arguments and meta accepted per job (``JOBLANE_MAX_PAYLOAD``)."""

KEEP_FOREVER = -1

_RNG = random.Random()
"""Draws each job's retry jitter (:meth:`Retry.delays`) unless given one."""

RESULT_TTL_ZERO_GRACE = 10
"""Seconds a finished job with ``result_ttl=0`` is kept all the same, so that
``Job.wait()`` in any process sees its outcome; housekeeping deletes it then."""


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
    lost_attempts: int = 0
    """Attempts that ended with their worker process (killed, out of memory,
    crashed): counted apart from ``attempts`` failed by the job itself, and
    bounded by the worker's ``max_lost`` (:func:`joblane.core.outcome.decide`)."""
    enqueued_by: Identity | None = None
    """Who enqueued the job (captured when it was built); the worker restores
    it around each attempt (docs/how-to/identity.md)."""
    undecodable: str | None = None
    """Why the stored record could not be decoded (the text of its
    CorruptRecordError), or None. Such a record, as a backend reads it, holds
    the fields that decoded and defaults for the others."""

    def copy(self, **changes: Any) -> JobRecord:
        return replace(self, **changes)


def expiry(now: float, ttl: int) -> float | None:
    """When something kept for *ttl* seconds from *now* expires (None: never)."""
    return None if ttl == KEEP_FOREVER else now + ttl


def result_expiry(now: float, result_ttl: int) -> float | None:
    """When a job that finished at *now* expires: after *result_ttl* seconds,
    or :data:`RESULT_TTL_ZERO_GRACE` for 0 (None: never)."""
    return expiry(now, result_ttl or RESULT_TTL_ZERO_GRACE)


def new_job_id() -> str:
    """A random UUID4 as 32 hex digits (as ``uuid.uuid4().hex``, built faster)."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    return raw.hex()


_VERSION_4 = bytes((b & 0x0F) | 0x40 for b in range(256))
_RFC_4122 = bytes((b & 0x3F) | 0x80 for b in range(256))


def new_job_ids(count: int) -> list[str]:
    """*count* ids as :func:`new_job_id` makes them, from one read of the OS's
    random source: the version and variant bits set by two C-speed passes."""
    raw = bytearray(os.urandom(16 * count))
    raw[6::16] = raw[6::16].translate(_VERSION_4)
    raw[8::16] = raw[8::16].translate(_RFC_4122)
    text = raw.hex()
    return [text[start : start + 32] for start in range(0, 32 * count, 32)]


def _seconds(name: str, value: object, *, allow_forever: bool, allow_none: bool) -> Any:
    if value is None and allow_none:
        return None
    # Documented as integers (and stored so): the TTLs; job_timeout may be fractional.
    value = seconds(name, value, whole=name != "job_timeout")
    if allow_forever and value == KEEP_FOREVER:
        return int(value)
    if value < 0 or (value == 0 and name in ("job_timeout", "ttl")):
        raise InvalidJobError(f"{name} must be > 0 seconds, not {value!r}")
    return value


@dataclass(slots=True)
class JobOptions:
    """Options of one enqueue, validated and normalised when built (so a
    function's ``@job`` defaults are checked once, at decoration)."""

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

    def __post_init__(self) -> None:
        if self.job_id is not None:
            validate_job_id(self.job_id)
        retry = self.retry
        if isinstance(retry, int) and not isinstance(retry, bool):
            self.retry = Retry(max=retry)
        elif retry is not None and not isinstance(retry, Retry):
            raise InvalidJobError(f"retry must be a Retry or an int, not {retry!r}")
        timeout = self.job_timeout
        if timeout is not None and timeout == KEEP_FOREVER:
            timeout = None
        self.job_timeout = _seconds("job_timeout", timeout, allow_forever=False, allow_none=True)
        self.result_ttl = _seconds("result_ttl", self.result_ttl, allow_forever=True,
                                   allow_none=False)  # fmt: skip
        self.ttl = _seconds("ttl", self.ttl, allow_forever=False, allow_none=True)
        self.failure_ttl = _seconds("failure_ttl", self.failure_ttl, allow_forever=True,
                                    allow_none=False)  # fmt: skip
        if self.meta is not None and not isinstance(self.meta, dict):
            raise InvalidJobError(f"meta must be a dict, not {type(self.meta).__name__}")
        if isinstance(self.depends_on, str):
            self.depends_on = (self.depends_on,)
        self.depends_on = tuple(validate_job_id(d) for d in self.depends_on)
        self.at_front = bool(self.at_front)
        self.unique = bool(self.unique)


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
    enqueued_by: Identity | None = None,
    rng: random.Random | None = None,
) -> JobRecord:
    """Validate one enqueue and build its record (status queued, or scheduled if
    *scheduled* is later than *now*; a retry's jitter drawn from *rng*). The
    backend may turn a queued job with dependencies into deferred or canceled,
    atomically with their state."""
    validate_queue_name(queue)
    if scheduled is not None and not scheduled - now <= MAX_DURATION:
        raise InvalidJobError(
            f"a job can be scheduled at most {MAX_DURATION} seconds (10 years) ahead, "
            f"not {scheduled - now:.0f} seconds"
        )
    payload = encode_call(args, kwargs, func_name)
    meta = options.meta
    size = len(payload) + (len(dumps(meta, "meta")) if meta else 0)
    if size > max_payload:
        raise PayloadTooLargeError(
            f"job payload of {func_name} is {size} bytes, over the limit of {max_payload} bytes"
        )
    retry = options.retry
    assert retry is None or isinstance(retry, Retry)  # normalised by JobOptions
    ttl = options.ttl
    waits = scheduled is not None and scheduled > now
    # Positional, in field order: this runs once per enqueued job.
    return JobRecord(
        new_job_id() if options.job_id is None else options.job_id,
        queue,
        func_name,
        payload,
        JobStatus.SCHEDULED if waits else JobStatus.QUEUED,
        now,  # created
        None if waits else now,  # enqueued
        None,  # started
        None,  # ended
        scheduled if waits else None,
        options.job_timeout,
        options.result_ttl,
        ttl,
        options.failure_ttl,
        retry.max if retry else 0,  # retries_left
        (retry.delays(rng or _RNG) if retry.jitter else retry.intervals) if retry else (),
        0,  # attempts
        dict(meta) if meta else {},
        None,  # worker_name
        None,  # result
        None,  # last_job_result
        options.depends_on,  # type: ignore[arg-type]  # a tuple, normalised by JobOptions
        options.at_front,
        (now + ttl) if ttl and not waits else None,  # expires_at
        enqueued_by=enqueued_by,
    )


def new_jobs(
    queue: str,
    func_name: str,
    calls: Iterable[tuple[Any, Any]],
    options: JobOptions,
    *,
    now: float,
    max_payload: int = DEFAULT_MAX_PAYLOAD,
    enqueued_by: Identity | None = None,
    rng: random.Random | None = None,
) -> list[JobRecord]:
    """:func:`new_job` (queued now) for each ``(args, kwargs)`` of *calls*, all
    with *options*: the same records, checks and errors, in order, with the work
    they share (options, meta, retry intervals, ids) done once for the batch.
    Each *args* must be a list or tuple and each *kwargs* a dict
    (InvalidJobError otherwise)."""
    validate_queue_name(queue)
    calls = list(calls)
    meta = options.meta
    try:
        meta_size = len(dumps(meta, "meta")) if meta else 0
    except SerializationError:
        # Raised by the first call whose arguments encode, as new_job orders its checks.
        for args, kwargs in calls:
            _check_types(args, kwargs)
            new_job(queue, func_name, args, kwargs, options, now=now, max_payload=max_payload)
        raise
    room = max_payload - meta_size
    retry = options.retry
    assert retry is None or isinstance(retry, Retry)  # normalised by JobOptions
    jitter = (rng or _RNG) if retry and retry.jitter else None
    intervals = retry.intervals if retry else ()
    retries_left = retry.max if retry else 0
    ttl = options.ttl
    expires_at = (now + ttl) if ttl else None
    job_id = options.job_id
    ids = new_job_ids(len(calls)) if job_id is None else [job_id] * len(calls)
    timeout, result_ttl, failure_ttl = options.job_timeout, options.result_ttl, options.failure_ttl
    depends_on, at_front = options.depends_on, options.at_front
    queued = JobStatus.QUEUED
    records: list[JobRecord] = []
    append = records.append
    # Each payload at once when they are all plain (else each one by encode_call).
    payloads: Iterable[bytes | None] = encode_calls(calls) or repeat(None)
    for new_id, (args, kwargs), payload in zip(ids, calls, payloads, strict=False):
        if args.__class__ is not tuple or kwargs.__class__ is not dict:
            _check_types(args, kwargs)
        if payload is None:
            payload = encode_call(args, kwargs, func_name)
        if len(payload) > room:
            raise PayloadTooLargeError(
                f"job payload of {func_name} is {len(payload) + meta_size} bytes, over the "
                f"limit of {max_payload} bytes"
            )
        # Positional, in field order, up to enqueued_by: calling a class with a
        # keyword argument makes a dict of it each time (0.1 us a job).
        record = JobRecord(
            new_id, queue, func_name, payload, queued, now, now, None, None, None, timeout,
            result_ttl, ttl, failure_ttl, retries_left,
            intervals if jitter is None else retry.delays(jitter),  # type: ignore[union-attr]
            0, dict(meta) if meta else {}, None, None, None,
            depends_on,  # type: ignore[arg-type]  # a tuple, normalised by JobOptions
            at_front, expires_at, None, None, False, 0, enqueued_by,
        )  # fmt: skip
        append(record)
    return records


def _check_types(args: object, kwargs: object) -> None:
    """Raise InvalidJobError unless *args* is a list or tuple and *kwargs* a dict."""
    if not isinstance(args, list | tuple):
        raise InvalidJobError(f"args must be a list or tuple, not {type(args).__name__}")
    if not isinstance(kwargs, dict):
        raise InvalidJobError(f"kwargs must be a dict, not {type(kwargs).__name__}")
