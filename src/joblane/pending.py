"""Jobs enqueued inside a transaction: built at once, stored at its commit.

::

    Queue.enqueue(...)  ->  build (no I/O)  ->  current_pending()
                                                  |  None: store now (as always)
                                                  v
                                      PendingJobs.add(backend, records)
                                                  |
             the transaction commits: store()  ---+---  it aborts: discard()
             (one backend.enqueue per backend)

:func:`current_pending` is what :meth:`Queue._store` asks at every enqueue: the
buffer of :func:`joblane.atomic` if one is open in this context, else the
first answer of the registered *providers* (:func:`add_provider`); an adapter
(``joblane.contrib.transaction``) registers one that returns the buffer of the
current transaction, if any. With none open, enqueue stores at once.

A job in a buffer has its id at once (the :class:`~joblane.client.Job` that
enqueue returns carries it); looking it up before the commit raises
:class:`~joblane.errors.JobNotStoredError` in the process that enqueued it
(:func:`not_found`).

Writing inside the app's own transaction (the seam)
---------------------------------------------------
Where the backend and the app share one database, a provider may return,
instead of a buffer, any :class:`Pending`, whose ``add`` writes the jobs at
once through the app's connection, so they commit or roll back with the app's
own rows. A backend that can do that implements :class:`SharesTransaction`:
the PostgreSQL backend does, and ``joblane.contrib.postgres.using(conn)``
is the provider that uses it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol, runtime_checkable

from joblane.backends.base import Backend
from joblane.core.job import JobRecord
from joblane.errors import JobNotStoredError, NoSuchJobError


class Pending(Protocol):
    """Where the enqueues of an open transaction go instead of the backend."""

    def add(self, backend: Backend, records: Sequence[JobRecord], unique: bool) -> list[JobRecord]:
        """Take *records* for *backend*; return them as the caller sees them now."""
        ...


@runtime_checkable
class SharesTransaction(Protocol):
    """A backend that can write jobs inside the app's own database transaction.

    ``enqueue_within(connection, jobs, unique=...)`` does what
    :meth:`Backend.enqueue` does, with the app's open *connection* (a DB-API
    connection or the framework's wrapper, as the backend documents), and
    neither commits nor rolls back: the app's transaction decides. A provider
    returns a :class:`Pending` whose ``add`` calls it."""

    def enqueue_within(
        self, connection: object, jobs: Sequence[JobRecord], *, unique: bool = False
    ) -> list[JobRecord]: ...


_lock = threading.Lock()
_buffered: dict[str, int] = {}
"""Ids of jobs held in some buffer of this process, with how many hold each."""


def _hold(ids: Sequence[str], change: int) -> None:
    with _lock:
        for job_id in ids:
            count = _buffered.get(job_id, 0) + change
            if count > 0:
                _buffered[job_id] = count
            else:
                _buffered.pop(job_id, None)


def not_found(job_id: str) -> NoSuchJobError:
    """The error for a job id the backend does not have: JobNotStoredError if a
    transaction of this process holds it, else NoSuchJobError."""
    if job_id in _buffered:
        return JobNotStoredError(job_id)
    return NoSuchJobError(job_id)


class PendingJobs:
    """A buffer of built jobs, for one transaction: :meth:`store` stores them,
    grouped per backend (one ``backend.enqueue`` each), :meth:`discard` drops them.
    Not thread-safe: one transaction belongs to one thread."""

    def __init__(self) -> None:
        self._entries: list[tuple[Backend, JobRecord, bool]] = []

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def backends(self) -> list[Backend]:
        """The backends the buffered jobs go to, in the order first used."""
        return list({id(b): b for b, _, _ in self._entries}.values())

    @property
    def entries(self) -> list[tuple[Backend, JobRecord, bool]]:
        """``(backend, record, unique)`` of each buffered job, in enqueue order."""
        return list(self._entries)

    def add(self, backend: Backend, records: Sequence[JobRecord], unique: bool) -> list[JobRecord]:
        self._entries.extend((backend, r, unique) for r in records)
        _hold([r.id for r in records], 1)
        return list(records)

    def extend(self, other: PendingJobs) -> None:
        """Take over every job of *other* (an inner buffer handing its jobs out)."""
        self._entries.extend(other._entries)
        other._entries = []  # the ids stay held: they moved, not left

    def mark(self) -> int:
        """A savepoint: :meth:`rollback` to it drops the jobs added after it."""
        return len(self._entries)

    def rollback(self, mark: int = 0) -> None:
        dropped, self._entries = self._entries[mark:], self._entries[:mark]
        _hold([r.id for _, r, _ in dropped], -1)

    def discard(self) -> None:
        """Drop every buffered job (the transaction aborted)."""
        self.rollback(0)

    def store(self) -> list[JobRecord]:
        """Store the buffered jobs: one ``backend.enqueue`` per backend (and per
        ``unique``), in the order first used. A group stored leaves the buffer,
        so after an error, calling this again stores only what is left."""
        stored: list[JobRecord] = []
        while self._entries:
            backend, _, unique = self._entries[0]
            group = [r for b, r, u in self._entries if b is backend and u is unique]
            stored.extend(backend.enqueue(group, unique=unique))
            self._entries = [e for e in self._entries if e[0] is not backend or e[2] is not unique]
            _hold([r.id for r in group], -1)
        return stored


_atomic: ContextVar[PendingJobs | None] = ContextVar("joblane_atomic", default=None)
_providers: list[Callable[[], Pending | None]] = []


def add_provider(provider: Callable[[], Pending | None], *, first: bool = False) -> None:
    """Register *provider*: asked at each enqueue outside :func:`joblane.atomic`
    for the pending buffer of the current transaction, or None. *first*: asked
    before the others (an explicit block, such as
    ``joblane.contrib.postgres.using``, wins over a framework's buffer)."""
    if provider not in _providers:
        if first:
            _providers.insert(0, provider)
        else:
            _providers.append(provider)


def remove_provider(provider: Callable[[], Pending | None]) -> None:
    if provider in _providers:
        _providers.remove(provider)


def provided_pending() -> Pending | None:
    """The first registered provider's answer that is not None."""
    for provider in _providers:
        pending = provider()
        if pending is not None:
            return pending
    return None


def current_pending() -> Pending | None:
    """Where an enqueue goes now: the innermost ``atomic()`` buffer, a
    provider's, or None (store at once)."""
    pending = _atomic.get()
    if pending is None and _providers:
        return provided_pending()
    return pending


@contextmanager
def atomic() -> Iterator[None]:
    """Buffer the enqueues of the block; store them in one round trip per
    backend when it exits cleanly, none of them if it raises.

    Nesting: an inner ``atomic()`` is a savepoint of the outer one. Its clean
    exit keeps its jobs for the outer block's commit; an exception out of it
    drops only the jobs enqueued inside it (the outer block may catch it and
    go on). At the outermost clean exit, the jobs go to the transaction of a
    registered adapter if one is open (they commit with it), else to their
    backends. A store that fails there raises from the ``with`` statement, as
    the enqueue itself would have, and drops what it could not store."""
    outer = _atomic.get()
    if outer is not None:
        mark = outer.mark()
        try:
            yield
        except BaseException:
            outer.rollback(mark)
            raise
        return
    pending = PendingJobs()
    token = _atomic.set(pending)
    try:
        yield
    except BaseException:
        pending.discard()
        raise
    finally:
        _atomic.reset(token)
    _hand_over(pending)


def _hand_over(pending: PendingJobs) -> None:
    host = provided_pending()
    if isinstance(host, PendingJobs):
        host.extend(pending)
        return
    try:
        if host is None:
            pending.store()
            return
        for backend, record, unique in pending.entries:
            host.add(backend, [record], unique)
    finally:
        pending.discard()
