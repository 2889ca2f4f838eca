"""The producer's API: queues to put jobs on, jobs to look up.

Options and the job's own keyword arguments
--------------------------------------------
``queue.enqueue(func, *args, **kwargs)`` takes its options as RQ does, by
reserved keyword names (:data:`RESERVED_OPTIONS`): ``job_id``, ``retry``,
``job_timeout``, ``result_ttl``, ``ttl``, ``failure_ttl``, ``meta``,
``at_front``, ``depends_on`` and ``unique``. Every other keyword goes to the
job. A job whose own parameters use one of those names is enqueued with
:meth:`Queue.enqueue_call`, which takes ``args`` and ``kwargs`` explicitly
and so cannot clash.

Inside a transaction (:func:`joblane.atomic`, or an installed adapter's) every
enqueue returns its Job at once, built, and the job is stored when the
transaction commits (:mod:`joblane.pending`).

Async code
----------
Each enqueue method has an ``a``-prefixed form to await (``aenqueue``,
``aenqueue_call``, ``aenqueue_at``, ``aenqueue_in``, ``aenqueue_many``,
``astore``; ``Job.afetch``, ``Job.arefresh``, ``Job.await_result``), mixed in
from :mod:`joblane.aclient`. It builds the job here, as the plain method does
(validation, no I/O), asks for the open transaction in the caller's context,
and awaits only the backend: natively where the backend implements
:class:`~joblane.backends.base.AsyncBackendOps` (Redis), else on a thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any

from joblane.aclient import AsyncJobMethods, AsyncQueueMethods
from joblane.backends.base import Backend
from joblane.building import (
    RESERVED_OPTIONS,
    EnqueueData,
    PreparedJob,
    build_job,
    build_many,
    build_record,
    scheduled_time,
)
from joblane.config import max_payload, redact_url, shared_backend
from joblane.core.clock import to_datetime
from joblane.core.job import JobRecord
from joblane.core.jobjson import JOB_DICT_FIELDS, describe_call, job_json
from joblane.core.limits import MAX_DURATION, seconds
from joblane.core.queues import DEFAULT_QUEUE, validate_job_id, validate_queue_name
from joblane.core.serialization import decode_call, dumps, loads
from joblane.core.states import ENDED_STATUSES, JobStatus, Registry, registry_for
from joblane.errors import InvalidJobError, WaitTimeoutError
from joblane.pending import current_pending, not_found

_new_tuple = tuple.__new__
_OPTIONS = attrgetter("options")

__all__ = ["RESERVED_OPTIONS", "EnqueueData", "Job", "JobRegistry", "PreparedJob", "Queue"]


class Queue(AsyncQueueMethods):
    """A named queue on a backend.

    ``Queue("normal")`` uses ``JOBLANE_URL`` (default ``sqlite:///joblane.db``);
    ``Queue("low", url=...)`` or ``Queue("low", backend=backend)`` are explicit.
    """

    def __init__(
        self,
        name: str = DEFAULT_QUEUE,
        *,
        url: str | None = None,
        backend: Backend | None = None,
        max_payload_bytes: int | None = None,
    ) -> None:
        self.name = validate_queue_name(name)
        self.backend = backend if backend is not None else shared_backend(url)
        self.max_payload = max_payload() if max_payload_bytes is None else max_payload_bytes
        self._allow_main = not self.backend.capabilities.shared_between_processes

    def __repr__(self) -> str:
        return f"Queue({self.name!r}, url={redact_url(self.backend.url)!r})"

    # -- enqueueing: build (validate, no I/O), then store ------------------------

    def enqueue(self, func: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> Job:
        """Put ``func(*args, **kwargs)`` on this queue (reserved names are options)."""
        options = {k: kwargs.pop(k) for k in list(kwargs) if k in RESERVED_OPTIONS}
        return self.enqueue_call(func, args, kwargs, **options)

    def enqueue_call(
        self,
        func: Callable[..., Any] | str,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        at: datetime | None = None,
        **options: Any,
    ) -> Job:
        """Put a job on this queue with explicit *args* and *kwargs*."""
        record, unique = build_record(
            self.name, func, args, {} if kwargs is None else kwargs, options,
            self.backend.now(), at, self._allow_main, self.max_payload,
        )  # fmt: skip
        return self._store([record], unique=unique)[0]

    def enqueue_at(
        self, when: datetime, func: Callable[..., Any] | str, *args: Any, **kwargs: Any
    ) -> Job:
        """Run the job at *when* (aware, or naive meaning local time, as Python
        reads it: ``datetime.now() + timedelta(minutes=5)`` is in 5 minutes in any
        time zone); it waits in the scheduled registry until then, at most 10 years
        (:data:`~joblane.core.limits.MAX_DURATION`) from now."""
        return self.store([self._build_at(when, func, args, kwargs)])[0]

    def _build_at(
        self, when: datetime, func: Callable[..., Any] | str, args: Any, kwargs: dict[str, Any]
    ) -> PreparedJob:
        scheduled_time(when)  # a datetime, checked before anything else
        options = {k: kwargs.pop(k) for k in list(kwargs) if k in RESERVED_OPTIONS}
        return self.build_call(func, args, kwargs, at=when, **options)

    def enqueue_in(
        self, delay: timedelta, func: Callable[..., Any] | str, *args: Any, **kwargs: Any
    ) -> Job:
        """Run the job after *delay*, at most 10 years
        (:data:`~joblane.core.limits.MAX_DURATION`); a delay of 0 or less runs it now."""
        return self.enqueue_at(self._delayed(delay), func, *args, **kwargs)

    def _delayed(self, delay: timedelta) -> datetime:
        if not isinstance(delay, timedelta):
            raise InvalidJobError(f"enqueue_in needs a timedelta, not {type(delay).__name__}")
        wait = delay.total_seconds()
        if wait > MAX_DURATION:
            raise InvalidJobError(
                f"enqueue_in's delay must be at most {MAX_DURATION} seconds (10 years), not {delay}"
            )
        # A past time (timedelta.min included) means now, and must stay a datetime.
        when = to_datetime(self.backend.now() + max(wait, 0.0))
        assert when is not None
        return when

    @staticmethod
    def prepare_data(
        func: Callable[..., Any] | str,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        **options: Any,
    ) -> EnqueueData:
        """Describe one job for :meth:`enqueue_many`."""
        # tuple.__new__ skips the named tuple's Python-level __new__: this runs
        # once per item of a batch.
        return _new_tuple(EnqueueData, (
            func, args if args.__class__ is tuple else tuple(args),
            dict(kwargs) if kwargs else {}, options,
        ))  # fmt: skip

    def enqueue_many(self, items: Iterable[EnqueueData], *, unique: bool = False) -> list[Job]:
        """Enqueue many jobs in one round-trip: all of them or, on an error, none.

        With *unique*, an item whose ``job_id`` a live job has returns that job.
        Items may not ask for ``unique`` one by one: it holds for the whole batch."""
        records = self._build_many(items)
        return self._store(records, unique=unique) if records else []

    def _build_many(self, items: Iterable[EnqueueData]) -> list[JobRecord]:
        items = list(items)
        if any(map(_OPTIONS, items)) and any("unique" in i.options for i in items):
            raise InvalidJobError("enqueue_many takes unique= for the whole batch, not per item")
        if not items:
            return []
        return build_many(self.name, items, now=self.backend.now(),
                          allow_main=self._allow_main, max_payload=self.max_payload)  # fmt: skip

    def build(self, func: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> PreparedJob:
        """What :meth:`enqueue` would store, validated, without storing it (no I/O):
        the same arguments, the same errors. Store it later with :meth:`store`."""
        options = {k: kwargs.pop(k) for k in list(kwargs) if k in RESERVED_OPTIONS}
        return self.build_call(func, args, kwargs, **options)

    def build_call(
        self,
        func: Callable[..., Any] | str,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        at: datetime | None = None,
        **options: Any,
    ) -> PreparedJob:
        """:meth:`build` with explicit *args* and *kwargs*, scheduled at *at* if given."""
        return build_job(
            self.name, func, args, {} if kwargs is None else kwargs, options,
            now=self.backend.now(), at=at, allow_main=self._allow_main,
            max_payload=self.max_payload,
        )  # fmt: skip

    def store(self, prepared: Iterable[PreparedJob]) -> list[Job]:
        """Store built jobs in one atomic step (all or none), in order, and return
        them as stored. They must agree on ``unique``: it holds for one store."""
        records, unique = unpack(prepared)
        return self._store(records, unique=unique) if records else []

    def _store(self, records: list[JobRecord], *, unique: bool) -> list[Job]:
        """The one place an enqueue writes: one backend call for the batch, or
        the buffer of the open transaction (:mod:`joblane.pending`)."""
        backend = self.backend
        pending = current_pending()
        stored = (backend.enqueue(records, unique=unique) if pending is None
                  else pending.add(backend, records, unique))  # fmt: skip
        return self._jobs(stored)

    def _jobs(self, stored: list[JobRecord]) -> list[Job]:
        backend = self.backend
        if len(stored) == 1:  # enqueue's hot path: no comprehension frame (Python 3.11)
            return [Job(stored[0], backend)]
        return [Job(record, backend) for record in stored]

    # -- inspecting --------------------------------------------------------------

    @property
    def count(self) -> int:
        """How many jobs wait in this queue."""
        return self.backend.count(self.name)

    def __len__(self) -> int:
        return self.count

    def get_jobs(self, start: int = 0, limit: int = 100) -> list[Job]:
        """Queued jobs, in the order a worker takes them."""
        return [Job(r, self.backend) for r in self.backend.list_queued(self.name, start, limit)]

    def registry(self, name: str | Registry) -> JobRegistry:
        reg = name if isinstance(name, Registry) else registry_for(name)
        return JobRegistry(self, reg)

    @property
    def started_job_registry(self) -> JobRegistry:
        return JobRegistry(self, Registry.STARTED)

    @property
    def deferred_job_registry(self) -> JobRegistry:
        return JobRegistry(self, Registry.DEFERRED)

    @property
    def canceled_job_registry(self) -> JobRegistry:
        return JobRegistry(self, Registry.CANCELED)

    @property
    def failed_job_registry(self) -> JobRegistry:
        return JobRegistry(self, Registry.FAILED)

    @property
    def finished_job_registry(self) -> JobRegistry:
        return JobRegistry(self, Registry.FINISHED)

    @property
    def scheduled_job_registry(self) -> JobRegistry:
        return JobRegistry(self, Registry.SCHEDULED)

    def empty(self) -> int:
        """Delete every job waiting in this queue; returns how many."""
        return self.backend.empty(self.name)

    def fetch_job(self, job_id: str) -> Job | None:
        """The job with this id if it belongs to this queue, else None."""
        record = self.backend.get(validate_job_id(job_id))
        return Job(record, self.backend) if record and record.queue == self.name else None


def deadline_for(timeout: float | None) -> tuple[float | None, float | None]:
    """*timeout* checked (a number of seconds up to 10 years; NaN waited forever)
    and the monotonic time it ends at (None: no limit)."""
    if timeout is None:
        return None, None
    timeout = seconds("timeout", timeout, whole=False)
    return timeout, time.monotonic() + timeout


def unpack(prepared: Iterable[PreparedJob]) -> tuple[list[JobRecord], bool]:
    """The records of built jobs and their one ``unique`` (they must agree)."""
    prepared = list(prepared)
    unique = bool(prepared) and prepared[0].unique
    if any(p.unique is not unique for p in prepared):
        raise InvalidJobError("store takes jobs that all ask for unique, or none that does")
    return [p.record for p in prepared], unique


class JobRegistry:
    """One registry of a queue: a view over the jobs in some statuses."""

    def __init__(self, queue: Queue, registry: Registry) -> None:
        self.queue = queue
        self.registry = registry
        self.name = registry.value

    @property
    def count(self) -> int:
        return self.queue.backend.registry_count(self.queue.name, self.registry)

    def __len__(self) -> int:
        return self.count

    def get_jobs(self, start: int = 0, limit: int = 100) -> list[Job]:
        records = self.queue.backend.list_registry(self.queue.name, self.registry, start, limit)
        return [Job(r, self.queue.backend) for r in records]

    def get_job_ids(self, start: int = 0, limit: int = 100) -> list[str]:
        return [job.id for job in self.get_jobs(start, limit)]


class Job(AsyncJobMethods):
    """A job as last read from its backend; :meth:`refresh` reads it again."""

    def __init__(self, record: JobRecord, backend: Backend) -> None:
        self._record = record
        self.backend = backend

    @classmethod
    def fetch(cls, job_id: str, *, url: str | None = None, backend: Backend | None = None) -> Job:
        """The job with this id; raises NoSuchJobError (or InvalidJobIdError), or
        JobNotStoredError for a job this process enqueued in a transaction that
        has not committed yet."""
        backend = backend if backend is not None else shared_backend(url)
        record = backend.get(validate_job_id(job_id))
        if record is None:
            raise not_found(job_id)
        return cls(record, backend)

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.func_name} {self.status}>"

    def refresh(self) -> Job:
        record = self.backend.get(self.id)
        if record is None:
            raise not_found(self.id)
        self._record = record
        return self

    # -- fields ------------------------------------------------------------------

    @property
    def record(self) -> JobRecord:
        return self._record

    @property
    def id(self) -> str:
        return self._record.id

    @property
    def job_id(self) -> str:
        """:attr:`id`, by the name arq's ``Job`` gives it."""
        return self._record.id

    @property
    def queue(self) -> str:
        return self._record.queue

    @property
    def func_name(self) -> str:
        return self._record.func_name

    @property
    def args(self) -> list[Any]:
        return decode_call(self._record.payload)[0]

    @property
    def kwargs(self) -> dict[str, Any]:
        return decode_call(self._record.payload)[1]

    @property
    def description(self) -> str:
        """``package.module.func('https://example.com/page', retries=2)``."""
        return describe_call(self.func_name, *decode_call(self._record.payload))

    @property
    def status(self) -> JobStatus:
        return self._record.status

    def get_status(self, refresh: bool = True) -> JobStatus:
        if refresh:
            self.refresh()
        return self._record.status

    @property
    def return_value(self) -> Any:
        """The decoded return value (None until the job finished)."""
        result = self._record.result
        return None if result is None else loads(result)

    @property
    def last_job_result(self) -> str | None:
        return self._record.last_job_result

    @property
    def meta(self) -> dict[str, Any]:
        return self._record.meta

    def save_meta(self) -> None:
        """Store :attr:`meta` as it is now; raises SerializationError (naming the
        part) for what JSON cannot carry, NaN and Infinity included."""
        dumps(self._record.meta, "meta")  # checked alike for every backend
        self.backend.save_meta(self.id, self._record.meta)

    @property
    def attempts(self) -> int:
        return self._record.attempts

    @property
    def retries_left(self) -> int:
        return self._record.retries_left

    @property
    def lost_attempts(self) -> int:
        """Attempts that ended with their worker process (see Worker's ``max_lost``)."""
        return self._record.lost_attempts

    @property
    def worker_name(self) -> str | None:
        return self._record.worker_name

    @property
    def created_at(self) -> datetime:
        created = to_datetime(self._record.created)
        assert created is not None
        return created

    @property
    def enqueued_at(self) -> datetime | None:
        return to_datetime(self._record.enqueued)

    @property
    def started_at(self) -> datetime | None:
        return to_datetime(self._record.started)

    @property
    def ended_at(self) -> datetime | None:
        return to_datetime(self._record.ended)

    @property
    def scheduled_at(self) -> datetime | None:
        return to_datetime(self._record.scheduled)

    @property
    def is_finished(self) -> bool:
        return self._record.status is JobStatus.FINISHED

    @property
    def is_failed(self) -> bool:
        return self._record.status is JobStatus.FAILED

    # -- actions -------------------------------------------------------------------

    def wait(self, timeout: float | None = None) -> Job:
        """Block until the job ended (finished, failed, canceled or stopped) and
        return it with its outcome: status, return value or last_job_result
        (with ``result_ttl=0`` too, kept :data:`~joblane.core.job.RESULT_TTL_ZERO_GRACE`
        seconds for its waiters); raises WaitTimeoutError after *timeout* seconds (None: no limit; a
        number of seconds up to 10 years, else InvalidJobError)."""
        timeout, deadline = deadline_for(timeout)
        while (wait := self._left(timeout, deadline, self.refresh())) is not None:
            self.backend.wait_for_change(wait)
        return self

    def _left(self, timeout: float | None, deadline: float | None, _: Job) -> float | None:
        """None once the job ended, else how long to wait for a change (at most a
        second); WaitTimeoutError past *deadline*."""
        if self._record.status in ENDED_STATUSES:
            return None
        remaining = 1.0 if deadline is None else deadline - time.monotonic()
        if remaining <= 0:
            raise WaitTimeoutError(
                f"job {self.id} is still {self._record.status} after {timeout:g} s"
            )
        return min(remaining, 1.0)

    def cancel(self) -> Job:
        """Queued, scheduled or deferred: canceled now. Started: its worker stops it."""
        self._record = self.backend.cancel(self.id, self.backend.now())
        return self

    def requeue(self) -> Job:
        """Put a failed, canceled or stopped job back on its queue."""
        self._record = self.backend.requeue(self.id, self.backend.now())
        return self

    def delete(self) -> bool:
        return self.backend.delete(self.id)

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready (timestamps as seed 000's ISO format, UTC), with
        the values the monitor shows for its part of them; a value that cannot
        be read raises its error."""
        return job_json(self._record, JOB_DICT_FIELDS, tolerant=False)
