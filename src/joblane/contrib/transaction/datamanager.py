"""One data manager per transaction, holding that transaction's jobs.

Two-phase commit, as ``transaction.interfaces.IDataManager`` orders it:

* ``tpc_vote``: one ``get_many`` per backend of the buffered jobs' ids. It
  checks that the backend answers (if not, the vote fails and the transaction
  aborts) and that no live job has the id of a job that is not ``unique``
  (DuplicateJobError, as the enqueue would have raised).
* ``tpc_finish`` (must not fail): the jobs go to the spool first (if on), then
  to the backend in one ``enqueue`` per backend, retried; once stored, the
  spool file goes. If the backend stays away, the file stays for a replay.
* ``abort`` / ``tpc_abort``: the jobs are dropped.
* savepoints: rolling back to one drops the jobs enqueued after it.

``sortKey`` is ``~joblane``: the data manager finishes after the databases
(their keys sort before ``~``), so jobs are stored after the data they read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import transaction
from transaction.interfaces import NoTransaction

from joblane.backends.base import Backend
from joblane.core.job import JobRecord
from joblane.core.states import ENDED_STATUSES
from joblane.errors import BackendError, DuplicateJobError, JoblaneError
from joblane.pending import PendingJobs, add_provider, remove_provider
from joblane.spool import SpoolFile, replay, spool_directory, write

log = logging.getLogger("joblane.transaction")

_JOINABLE = ("Active", "Doomed")
Groups = list[tuple[Backend, list[tuple[JobRecord, bool]]]]


class TransactionJobs:
    """The adapter for one transaction manager: :meth:`pending` (a provider)
    gives the current transaction's buffer, joining a data manager to it first.

    *spool*: write a committed transaction's jobs to the spool before storing
    them (:mod:`joblane.spool`), in *spool_dir* or the backend's
    :func:`~joblane.spool.spool_directory`. *retries* and *retry_delay*
    (seconds, doubled each time): how ``tpc_finish`` retries a failed store."""

    before_store: Callable[[], None] | None = None
    """Called in ``tpc_finish`` right before the store, after the spool write
    (a test stops the process there)."""

    def __init__(
        self, manager: Any = None, *, spool: bool = True, spool_dir: Path | None = None,
        retries: int = 3, retry_delay: float = 0.2,
    ) -> None:  # fmt: skip
        self.manager = transaction.manager if manager is None else manager
        self.spool = spool
        self.spool_dir = spool_dir
        self.retries = retries
        self.retry_delay = retry_delay

    def pending(self) -> PendingJobs | None:
        """The buffer of the manager's current transaction; None if there is none
        (an explicit manager before ``begin``) or it is committing already."""
        try:
            txn = self.manager.get()
        except NoTransaction:
            return None
        if txn.status not in _JOINABLE:
            return None  # an enqueue from another resource's commit: store at once
        try:
            manager: JobDataManager | None = txn.data(self)
        except KeyError:
            manager = None
        if manager is None or not manager.joined:
            manager = JobDataManager(self)
            txn.join(manager)
            txn.set_data(self, manager)
        return manager.pending

    def directory(self, backend: Backend) -> Path | None:
        """Where *backend*'s jobs are spooled; None if nowhere."""
        if not self.spool:
            return None
        return self.spool_dir if self.spool_dir is not None else spool_directory(backend)

    def uninstall(self) -> None:
        """Stop joining transactions (a transaction joined already keeps its jobs)."""
        remove_provider(self.pending)


def install(
    manager: Any = None, *, spool: bool = True, spool_dir: Path | None = None,
    retries: int = 3, retry_delay: float = 0.2,
) -> TransactionJobs:  # fmt: skip
    """Make enqueues join *manager*'s transactions (``transaction.manager`` if
    None); returns the adapter (``.uninstall()`` undoes it)."""
    adapter = TransactionJobs(manager, spool=spool, spool_dir=spool_dir,
                              retries=retries, retry_delay=retry_delay)  # fmt: skip
    add_provider(adapter.pending)
    return adapter


class JobDataManager:
    """The jobs of one transaction (an ``ISavepointDataManager``)."""

    def __init__(self, adapter: TransactionJobs) -> None:
        self.adapter = adapter
        self.transaction_manager = adapter.manager
        self.pending = PendingJobs()
        self.joined = True

    def sortKey(self) -> str:
        return "~joblane"

    def abort(self, txn: object) -> None:
        self.pending.discard()
        # A rollback to a savepoint taken before this joined aborts and unjoins
        # it: the next enqueue of the transaction joins a new one.
        self.joined = False

    def tpc_begin(self, txn: object) -> None:
        pass

    def commit(self, txn: object) -> None:
        pass

    def tpc_vote(self, txn: object) -> None:
        groups = _by_backend(self.pending.entries)
        for backend, entries in groups:
            found = backend.get_many([record.id for record, _ in entries])
            for (record, unique), live in zip(entries, found, strict=True):
                if live is not None and not unique and live.status not in ENDED_STATUSES:
                    raise DuplicateJobError(record.id)

    def tpc_finish(self, txn: object) -> None:
        try:
            self._finish()
        except Exception:  # tpc_finish must not fail; the spool keeps the jobs
            log.exception("storing the jobs of a committed transaction failed")
        finally:
            self.pending.discard()

    def tpc_abort(self, txn: object) -> None:
        self.pending.discard()
        self.joined = False

    def savepoint(self) -> _Savepoint:
        return _Savepoint(self.pending, self.pending.mark())

    # -- tpc_finish's steps --------------------------------------------------

    def _finish(self) -> None:
        groups = _by_backend(self.pending.entries)
        if not groups:
            return
        spooled = self._spool(groups)
        stored = False
        try:
            if self.adapter.before_store is not None:
                self.adapter.before_store()
            stored = self._store()
        finally:
            for spool_file in spooled:
                spool_file.remove() if stored else spool_file.release()
        if stored:
            self._replay_others(groups)
            return
        ids = [r.id for _, r, _ in self.pending.entries]
        if spooled:
            log.warning("backend away: %d job(s) of a committed transaction kept in "
                        "the spool for a replay", len(ids))  # fmt: skip
        else:
            log.error("backend away and no spool: job(s) %s of a committed "
                      "transaction are lost", ", ".join(ids))  # fmt: skip

    def _spool(self, groups: Groups) -> list[SpoolFile]:
        spooled = []
        for backend, entries in groups:
            directory = self.adapter.directory(backend)
            if directory is None:
                continue
            try:
                spooled.append(write(directory, backend, entries))
            except OSError:
                log.exception("cannot write the spool in %s; storing without it", directory)
        return spooled

    def _store(self) -> bool:
        """Store the buffered jobs, retrying backend errors; False if they stayed."""
        delay = self.adapter.retry_delay
        for attempt in range(self.adapter.retries + 1):
            try:
                self.pending.store()
                return True
            except BackendError as error:
                log.warning("storing a committed transaction's jobs failed (%s); "
                            "attempt %d of %d", error, attempt + 1,
                            self.adapter.retries + 1)  # fmt: skip
            except JoblaneError:
                # A refusal (an id taken since the vote): store the rest one by one.
                _store_each(self.pending)
                return True
            if attempt < self.adapter.retries:
                time.sleep(delay)
                delay *= 2
        return False

    def _replay_others(self, groups: Groups) -> None:
        """The backend answers: store what earlier transactions left in its spool."""
        for backend, _ in groups:
            try:
                replay(backend, self.adapter.directory(backend))
            except Exception:
                log.exception("replaying the spool failed; a worker or commit will retry")


class _Savepoint:
    def __init__(self, pending: PendingJobs, mark: int) -> None:
        self.pending = pending
        self.mark = mark

    def rollback(self) -> None:
        self.pending.rollback(self.mark)


def _by_backend(entries: list[tuple[Backend, JobRecord, bool]]) -> Groups:
    """The entries per backend (by identity), in the order first used."""
    groups: dict[int, tuple[Backend, list[tuple[JobRecord, bool]]]] = {}
    for backend, record, unique in entries:
        groups.setdefault(id(backend), (backend, []))[1].append((record, unique))
    return list(groups.values())


def _store_each(pending: PendingJobs) -> None:
    for backend, record, unique in pending.entries:
        try:
            backend.enqueue([record], unique=unique)
        except JoblaneError as error:
            log.error("job %s of a committed transaction was refused: %s", record.id, error)
    pending.discard()
