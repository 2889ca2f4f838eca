"""The producer's API for async code: ``await queue.aenqueue(...)``, ``await Job.afetch(...)``.

Each method here is the ``a``-prefixed form of a method of
:class:`~joblane.client.Queue` or :class:`~joblane.client.Job` (these classes
are mixins of theirs) and differs from it only in how the backend is reached::

    aenqueue(...)  ->  build (client.py / building.py, no I/O, in the caller)
                   ->  current_pending() (in the caller's context and thread)
                   ->  await async_ops(backend).aenqueue(records)
                           |  the backend implements AsyncBackendOps: its own
                           |  event-loop I/O (Redis: redis.asyncio)
                           |  else: OnThread, the sync method on a thread
                           |  (SQLite, memory; threads.run_sync)

So there is one build path, one transaction seam and one set of errors; the
event loop never waits on the backend.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Self

from joblane.backends.base import AsyncBackendOps, Backend
from joblane.building import EnqueueData, PreparedJob
from joblane.config import shared_backend
from joblane.core.job import JobRecord
from joblane.core.queues import validate_job_id
from joblane.core.states import ENDED_STATUSES
from joblane.pending import current_pending, not_found
from joblane.threads import run_sync

if TYPE_CHECKING:
    from joblane.client import Job

__all__ = ["AsyncJobMethods", "AsyncQueueMethods", "OnThread", "async_ops"]

THREAD_WAIT = 1.0
"""Longest wait one thread makes for a change (OnThread.await_end): a
cancelled ``await_result`` leaves no thread waiting longer than that."""
RECHECK = 5.0
"""Longest ``await_result`` waits on a native backend before it reads the job
again without a change message (a safety net, not a poll)."""

_NATIVE: dict[type, bool] = {}


def async_ops(backend: Backend) -> AsyncBackendOps:
    """*backend* itself if it implements :class:`AsyncBackendOps`, else
    :class:`OnThread` over it."""
    kind = type(backend)
    native = _NATIVE.get(kind)
    if native is None:
        native = _NATIVE[kind] = isinstance(backend, AsyncBackendOps)
    return backend if native else OnThread(backend)  # type: ignore[return-value]


class OnThread:
    """:class:`AsyncBackendOps` over a sync backend: each call on a thread."""

    __slots__ = ("backend",)

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    async def aenqueue(self, jobs: Sequence[JobRecord], *, unique: bool = False) -> list[JobRecord]:
        return await run_sync(self.backend.enqueue, jobs, unique=unique)

    async def aget(self, job_id: str) -> JobRecord | None:
        return await run_sync(self.backend.get, job_id)

    async def aget_many(self, job_ids: Sequence[str]) -> list[JobRecord | None]:
        return await run_sync(self.backend.get_many, job_ids)

    async def await_end(self, job_id: str, timeout: float) -> JobRecord | None:
        deadline = time.monotonic() + timeout
        record = await self.aget(job_id)
        while record is not None and record.status not in ENDED_STATUSES:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            record = await run_sync(self._wait_then_get, job_id, min(left, THREAD_WAIT))
        return record

    def _wait_then_get(self, job_id: str, wait: float) -> JobRecord | None:
        self.backend.wait_for_change(wait)
        return self.backend.get(job_id)


class AsyncQueueMethods:
    """The async methods of :class:`~joblane.client.Queue`."""

    if TYPE_CHECKING:  # what Queue provides
        backend: Backend

        def build(
            self, func: Callable[..., Any] | str, *args: Any, **kwargs: Any
        ) -> PreparedJob: ...

        def build_call(
            self,
            func: Callable[..., Any] | str,
            args: Sequence[Any] = (),
            kwargs: dict[str, Any] | None = None,
            *,
            at: datetime | None = None,
            **options: Any,
        ) -> PreparedJob: ...

        def _build_at(
            self, when: datetime, func: Callable[..., Any] | str, args: Any, kwargs: dict[str, Any]
        ) -> PreparedJob: ...

        def _delayed(self, delay: timedelta) -> datetime: ...

        def _build_many(self, items: Iterable[EnqueueData]) -> list[JobRecord]: ...

        def _jobs(self, stored: list[JobRecord]) -> list[Job]: ...

    async def aenqueue(self, func: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> Job:
        """:meth:`~joblane.client.Queue.enqueue` for async code."""
        built = self.build(func, *args, **kwargs)
        return (await self._astore([built.record], unique=built.unique))[0]

    async def aenqueue_call(
        self,
        func: Callable[..., Any] | str,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        at: datetime | None = None,
        **options: Any,
    ) -> Job:
        """:meth:`~joblane.client.Queue.enqueue_call` for async code."""
        built = self.build_call(func, args, kwargs, at=at, **options)
        return (await self._astore([built.record], unique=built.unique))[0]

    async def aenqueue_at(
        self, when: datetime, func: Callable[..., Any] | str, *args: Any, **kwargs: Any
    ) -> Job:
        """:meth:`~joblane.client.Queue.enqueue_at` for async code."""
        built = self._build_at(when, func, args, kwargs)
        return (await self._astore([built.record], unique=built.unique))[0]

    async def aenqueue_in(
        self, delay: timedelta, func: Callable[..., Any] | str, *args: Any, **kwargs: Any
    ) -> Job:
        """:meth:`~joblane.client.Queue.enqueue_in` for async code."""
        return await self.aenqueue_at(self._delayed(delay), func, *args, **kwargs)

    async def aenqueue_many(
        self, items: Iterable[EnqueueData], *, unique: bool = False
    ) -> list[Job]:
        """:meth:`~joblane.client.Queue.enqueue_many` for async code."""
        records = self._build_many(items)
        return await self._astore(records, unique=unique) if records else []

    async def astore(self, prepared: Iterable[PreparedJob]) -> list[Job]:
        """:meth:`~joblane.client.Queue.store` for async code."""
        from joblane.client import unpack

        records, unique = unpack(prepared)
        return await self._astore(records, unique=unique) if records else []

    async def _astore(self, records: list[JobRecord], *, unique: bool) -> list[Job]:
        """``Queue._store``, the backend's write awaited. The transaction is
        looked up here, in the caller's context and thread (an adapter's may
        be thread-local); adding to its buffer is in memory."""
        backend = self.backend
        pending = current_pending()
        if pending is None:
            stored = await async_ops(backend).aenqueue(records, unique=unique)
        else:
            stored = pending.add(backend, records, unique)
        return self._jobs(stored)


class AsyncJobMethods:
    """The async methods of :class:`~joblane.client.Job`."""

    if TYPE_CHECKING:  # what Job provides
        backend: Backend
        _record: JobRecord

        def __init__(self, record: JobRecord, backend: Backend) -> None: ...

        @property
        def id(self) -> str: ...

        def _left(self, timeout: float | None, deadline: float | None, _: Any) -> float | None: ...

    @classmethod
    async def afetch(
        cls, job_id: str, *, url: str | None = None, backend: Backend | None = None
    ) -> Self:
        """:meth:`~joblane.client.Job.fetch` for async code."""
        job_id = validate_job_id(job_id)
        if backend is None:  # opening it (first use of the URL) is blocking I/O
            backend = await run_sync(shared_backend, url)
        record = await async_ops(backend).aget(job_id)
        if record is None:
            raise not_found(job_id)
        return cls(record, backend)

    async def arefresh(self) -> Self:
        """:meth:`~joblane.client.Job.refresh` for async code."""
        record = await async_ops(self.backend).aget(self.id)
        if record is None:
            raise not_found(self.id)
        self._record = record
        return self

    async def await_result(self, timeout: float | None = None) -> Self:
        """:meth:`~joblane.client.Job.wait` for async code (``await`` is a
        keyword, hence the name): the job, ended, with its outcome;
        WaitTimeoutError after *timeout* seconds (None: no limit). Woken by the
        backend's change messages where it awaits natively (Redis); else each
        wait runs on a thread for at most a second, so a cancelled await
        leaves no thread waiting longer than that."""
        from joblane.client import deadline_for

        timeout, deadline = deadline_for(timeout)
        ops = async_ops(self.backend)
        while True:
            left = RECHECK if deadline is None else max(deadline - time.monotonic(), 0.0)
            record = await ops.await_end(self.id, min(left, RECHECK))
            if record is None:
                raise not_found(self.id)
            self._record = record
            if self._left(timeout, deadline, self) is None:
                return self
