"""One buffer per bound ``Session``, driven by the session's own events.

* ``after_transaction_create`` of a nested transaction (a SAVEPOINT): remember
  the buffer's mark.
* ``after_soft_rollback`` of a nested transaction: drop the jobs added since its
  mark; of the outermost one: drop them all.
* ``after_commit`` of the outermost transaction (SQLAlchemy also fires it when
  a SAVEPOINT is released; those are skipped): store the jobs, one
  ``Backend.enqueue`` per backend.
* ``after_transaction_end`` of the outermost transaction (commit, rollback or
  ``close()``): whatever was not stored is dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from joblane.pending import PendingJobs, add_provider

log = logging.getLogger("joblane.sqlalchemy")

_KEY = "joblane"
_bound: ContextVar[SessionJobs | None] = ContextVar("joblane_sqlalchemy", default=None)


class SessionJobs:
    """The jobs of one session's current transaction (in ``session.info``).

    *robust*: True (the default), a store that fails after the commit is
    logged (ERROR, with the job ids); False, it raises out of ``commit()``
    (the data stays committed)."""

    def __init__(self, session: Session, robust: bool) -> None:
        self.session = session
        self.robust = robust
        self.buffer = PendingJobs()
        self.marks: dict[SessionTransaction, int] = {}
        self.committing = False
        event.listen(session, "after_transaction_create", self._created)
        event.listen(session, "after_soft_rollback", self._rolled_back)
        event.listen(session, "after_commit", self._committed)
        event.listen(session, "after_transaction_end", self._ended)

    def pending(self) -> PendingJobs | None:
        """The buffer, beginning the session's transaction as a write would
        (autobegin); None while committing (store at once)."""
        if self.committing:
            return None
        if self.session.get_transaction() is None:
            if not self.session.autobegin:
                return None  # no transaction: store at once
            self.session.begin()
        return self.buffer

    def _created(self, session: Session, transaction: SessionTransaction) -> None:
        if transaction.nested:
            self.marks[transaction] = self.buffer.mark()

    def _rolled_back(self, session: Session, previous: SessionTransaction) -> None:
        if previous.nested:
            # No mark: it began before the session was followed, so every job did after it.
            self.buffer.rollback(self.marks.pop(previous, 0))
        elif previous.parent is None:
            self.buffer.discard()

    def _committed(self, session: Session) -> None:
        if session.in_nested_transaction():
            return  # a SAVEPOINT released: its jobs wait for the outermost commit
        self.committing = True
        ids = [record.id for _, record, _ in self.buffer.entries]
        try:
            self.buffer.store()
        except Exception:
            log.exception("job(s) %s of a committed transaction were not stored",
                          ", ".join(ids))  # fmt: skip
            if not self.robust:
                raise
        finally:
            self.buffer.discard()

    def _ended(self, session: Session, transaction: SessionTransaction) -> None:
        # A nested transaction's mark stays: after_soft_rollback comes after this.
        if transaction.parent is None:
            self.buffer.discard()
            self.marks.clear()
            self.committing = False


def follow(session: Any, *, robust: bool = True) -> SessionJobs:
    """The adapter of *session* (a ``Session``, or an ``AsyncSession``: its
    ``sync_session``), attached at the first call; *robust* is set each time."""
    sync: Session = getattr(session, "sync_session", session)
    jobs: SessionJobs | None = sync.info.get(_KEY)
    if jobs is None:
        jobs = sync.info[_KEY] = SessionJobs(sync, robust)
    jobs.robust = robust
    return jobs


@contextmanager
def bind(session: Any, *, robust: bool = True) -> Iterator[SessionJobs]:
    """Enqueues in the block (this context) join *session*'s transaction."""
    add_provider(_provider)
    jobs = follow(session, robust=robust)
    token = _bound.set(jobs)
    try:
        yield jobs
    finally:
        _bound.reset(token)


def _provider() -> PendingJobs | None:
    jobs = _bound.get()
    return None if jobs is None else jobs.pending()
