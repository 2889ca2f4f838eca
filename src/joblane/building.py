"""Building a job: everything an enqueue checks and decides, without storing it.

::

    build_job(queue, func, args, kwargs, options, now=...)  ->  PreparedJob
    build_many(queue, items, now=...)                        ->  [JobRecord, ...]
                        |
                        v
    Backend.enqueue(records, unique=...)   (Queue.store: the only I/O)

A build resolves the function's dotted name, merges the enqueue's options over
the function's ``@job`` defaults (:func:`resolve_options`), turns ``depends_on``
jobs into ids, reads a scheduling time (a naive datetime is local time),
encodes the call and checks every bound, captures who enqueues it
(:func:`joblane.identity.capture`), and raises the same typed errors as an
enqueue. It reads no clock (*now* is given) and touches no backend, so a
producer can build a job at once and store it later: after a transaction
commits, from an event loop's thread, in a framework's task backend.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime
from itertools import groupby
from operator import attrgetter, itemgetter
from typing import Any, NamedTuple

from joblane.core.clock import to_timestamp
from joblane.core.job import DEFAULT_MAX_PAYLOAD, JobOptions, JobRecord, new_job, new_jobs
from joblane.core.retry import Retry
from joblane.errors import InvalidJobError
from joblane.identity import capture
from joblane.tasks import defaults_for, function_name

RESERVED_OPTIONS = frozenset(f.name for f in fields(JobOptions))
"""The keyword names that are options of an enqueue, not the job's arguments."""

_DEFAULTS = JobOptions()


@dataclass(frozen=True, slots=True)
class PreparedJob:
    """A job built and validated, not stored yet (:meth:`Queue.build`);
    :meth:`Queue.store` stores it. Its times (created, enqueued, a ttl's
    expiry) are those of the build."""

    record: JobRecord
    unique: bool = False
    """Stored with ``unique``: a live job with its id is returned instead."""

    @property
    def id(self) -> str:
        return self.record.id


class EnqueueData(NamedTuple):
    """One job for :meth:`Queue.enqueue_many`, made by :meth:`Queue.prepare_data`."""

    func: Callable[..., Any] | str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    options: dict[str, Any]


def resolve_options(func_name: str, given: dict[str, Any]) -> JobOptions:
    """The enqueue's options over the function's ``@job`` defaults over joblane's."""
    base = defaults_for(func_name) or _DEFAULTS
    if not given:
        return base  # validated once, when built
    unknown = given.keys() - RESERVED_OPTIONS
    if unknown:
        raise InvalidJobError(f"unknown job option(s): {', '.join(sorted(unknown))}")
    if "depends_on" in given:
        given = {**given, "depends_on": _dependency_ids(given["depends_on"])}
    if base.job_id is not None and "job_id" not in given:
        given = {**given, "job_id": None}
    resolved = replace(base, **given)
    _check_retry_on(func_name, base, resolved)
    return resolved


def _check_retry_on(func_name: str, base: JobOptions, resolved: JobOptions) -> None:
    """The worker classifies a failure by the function's own ``Retry.on``
    (see :class:`~joblane.core.retry.Retry`): an enqueue may not name others."""
    retry = resolved.retry
    if not isinstance(retry, Retry) or not retry.on:
        return
    own = base.retry.on if isinstance(base.retry, Retry) else ()
    if retry.on != own:
        raise InvalidJobError(
            f"retry=Retry(on={list(retry.on)!r}) differs from {func_name}'s own "
            f"@job(retry=Retry(on=...)) {list(own)!r}: the worker retries on the "
            "function's exceptions, so set on= in its @job"
        )


def _dependency_ids(depends: object) -> tuple[str, ...]:
    if depends is None:
        return ()
    single = _job_id_of(depends)
    if single is not None:
        return (single,)
    if not isinstance(depends, Iterable):
        raise _not_a_job(depends)
    ids = []
    for each in depends:
        job_id = _job_id_of(each)
        if job_id is None:
            raise _not_a_job(each)
        ids.append(job_id)
    return tuple(ids)


def _job_id_of(value: object) -> str | None:
    """The id of a job id, a Job, a PreparedJob or a JobRecord; else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, JobRecord):
        return value.id
    record = getattr(value, "record", None)  # a Job or a PreparedJob
    return record.id if isinstance(record, JobRecord) else None


def _not_a_job(value: object) -> InvalidJobError:
    return InvalidJobError(f"depends_on takes jobs or job ids, not {type(value).__name__}")


def check_call(args: object, kwargs: object) -> None:
    """Raise InvalidJobError unless *args* is a list or tuple and *kwargs* a dict."""
    if type(args) is not tuple and not isinstance(args, list | tuple):
        raise InvalidJobError(f"args must be a list or tuple, not {type(args).__name__}")
    if type(kwargs) is not dict:
        raise InvalidJobError(f"kwargs must be a dict, not {type(kwargs).__name__}")


def scheduled_time(when: object, what: str = "enqueue_at") -> float:
    """*when* as POSIX seconds: an aware datetime, or a naive one meaning local
    time (Python's convention, as ``datetime.now()`` gives it)."""
    if not isinstance(when, datetime):
        raise InvalidJobError(f"{what} needs a datetime, not {type(when).__name__}")
    return to_timestamp(when)


def build_job(
    queue: str,
    func: Callable[..., Any] | str,
    args: Sequence[Any],
    kwargs: dict[str, Any],
    options: dict[str, Any],
    *,
    now: float,
    at: datetime | None = None,
    allow_main: bool = False,
    max_payload: int = DEFAULT_MAX_PAYLOAD,
) -> PreparedJob:
    """Validate one enqueue and build its record: queued, or scheduled at *at*
    (any datetime, naive meaning local time). Raises what an enqueue raises
    for bad input; stores nothing."""
    record, unique = build_record(queue, func, args, kwargs, options, now, at,
                                  allow_main, max_payload)  # fmt: skip
    return PreparedJob(record, unique)


def build_record(
    queue: str,
    func: Callable[..., Any] | str,
    args: Sequence[Any],
    kwargs: dict[str, Any],
    options: dict[str, Any],
    now: float,
    at: datetime | None,
    allow_main: bool,
    max_payload: int,
) -> tuple[JobRecord, bool]:
    """:func:`build_job` as a record and its ``unique`` (the enqueue's hot path)."""
    name = function_name(func, allow_main=allow_main)
    check_call(args, kwargs)
    resolved = resolve_options(name, options)
    if resolved.unique and resolved.job_id is None:
        raise InvalidJobError("unique=True needs a job_id: the id is what makes a job unique")
    record = new_job(
        queue, name, args, kwargs, resolved, now=now,
        scheduled=None if at is None else scheduled_time(at, "at"),
        max_payload=max_payload, enqueued_by=capture(),
    )  # fmt: skip
    return record, resolved.unique


def build_many(
    queue: str,
    items: Iterable[EnqueueData],
    *,
    now: float,
    allow_main: bool = False,
    max_payload: int = DEFAULT_MAX_PAYLOAD,
) -> list[JobRecord]:
    """Build the records of :meth:`Queue.enqueue_many`'s *items*; ``unique``
    holds for a whole batch, so an item may not ask for it."""
    # Items without options of their own share their function's name and
    # options: resolve those once per function, and build each run of such
    # items of one function with new_jobs (the per-job work only).
    shared: dict[object, tuple[str, JobOptions]] = {}

    def plain(func: Callable[..., Any] | str, calls: Iterable[tuple[Any, Any]]) -> None:
        resolved = shared.get(func)
        if resolved is None:
            name = function_name(func, allow_main=allow_main)
            resolved = shared[func] = (name, resolve_options(name, {}))
        records.extend(new_jobs(queue, resolved[0], calls, resolved[1], now=now,
                                max_payload=max_payload, enqueued_by=by))  # fmt: skip

    records: list[JobRecord] = []
    by = capture()  # one enqueuer for the whole batch
    for func, run in groupby(items, key=_FUNC):
        batch = list(run)
        if not any(map(_OPTIONS, batch)):
            plain(func, map(_CALL, batch))
            continue
        for item in batch:
            if not item.options:
                plain(func, [(item.args, item.kwargs)])
                continue
            if "unique" in item.options:
                raise InvalidJobError(
                    "enqueue_many takes unique= for the whole batch, not per item"
                )
            name = function_name(item.func, allow_main=allow_main)
            check_call(item.args, item.kwargs)
            records.append(new_job(queue, name, item.args, item.kwargs,
                                   resolve_options(name, item.options), now=now,
                                   max_payload=max_payload, enqueued_by=by))  # fmt: skip
    return records


_FUNC = attrgetter("func")
_OPTIONS = attrgetter("options")
_CALL = itemgetter(1, 2)
"""An EnqueueData's (args, kwargs)."""
