"""The provider: a buffer per enqueue call, stored by its own ``on_commit`` callback.

Only public Django APIs: ``transaction.get_autocommit(using)`` tells whether a
transaction is open (False inside ``atomic``), ``transaction.on_commit(func,
using, robust)`` runs the store after the commit. Django drops the callbacks of
a rolled-back savepoint, and all of them at a rollback, so a buffer registered
inside one is never stored: nothing here tracks savepoints.

The cost: one ``on_commit`` callback and, at the commit, one ``Backend.enqueue``
per enqueue call (as without a transaction); ``enqueue_many``, or a
``joblane.atomic()`` block inside the Django one, stores its jobs in one.
"""

from __future__ import annotations

import asyncio
import logging

from django.db import transaction
from django.db.transaction import TransactionManagementError

from joblane.pending import PendingJobs, add_provider, remove_provider

log = logging.getLogger("joblane.django")


def running_loop() -> bool:
    """Whether this thread runs an event loop (where Django refuses database calls)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class CommitBuffer(PendingJobs):
    """The jobs of one enqueue call, stored by one ``on_commit`` callback."""

    def __del__(self) -> None:
        # Django dropped the callback (a rollback): release the ids it held.
        if len(self):
            self.discard()

    def store_committed(self) -> None:
        ids = [record.id for _, record, _ in self.entries]
        try:
            self.store()
        except Exception:
            log.error("job(s) %s of a committed transaction were not stored", ", ".join(ids))
            raise
        finally:
            self.discard()


class DjangoJobs:
    """The adapter for one database alias (*using*): :meth:`pending` (a
    provider) gives a new buffer, registered with ``on_commit``, while that
    alias's connection is in a transaction; None (store at once) outside.

    *robust*: passed to ``on_commit``. True (the default): a store that fails
    is logged and the commit's other callbacks still run; False: the error
    raises out of the ``atomic`` block (after the commit: the data stays
    committed) and Django skips the callbacks after it."""

    def __init__(self, using: str = "default", *, robust: bool = True) -> None:
        self.using = using
        self.robust = robust

    def pending(self) -> PendingJobs | None:
        if running_loop():
            return None  # async code: Django's atomic blocks are for sync code only
        if transaction.get_autocommit(using=self.using):
            return None
        buffer = CommitBuffer()
        try:
            transaction.on_commit(buffer.store_committed, using=self.using, robust=self.robust)
        except TransactionManagementError:
            return None  # autocommit off by hand, no atomic block: store at once
        return buffer

    def uninstall(self) -> None:
        """Stop buffering (callbacks registered already still store)."""
        remove_provider(self.pending)


def install(using: str = "default", *, robust: bool = True) -> DjangoJobs:
    """Make enqueues join the transactions of the *using* alias; returns the
    adapter (``.uninstall()`` undoes it)."""
    adapter = DjangoJobs(using, robust=robust)
    add_provider(adapter.pending)
    return adapter
