"""Enqueue inside the app's own PostgreSQL transaction: the jobs commit or roll
back with the app's rows, with no after-commit window at all.

::

    with conn.transaction():                      # the app's psycopg connection
        conn.execute("INSERT INTO orders ...")
        with joblane.contrib.postgres.using(conn):
            queue.enqueue(send_receipt, order_id)  # written now, in this transaction

:func:`using` takes the app's connection: a psycopg (3) ``Connection``, an
SQLAlchemy ``Session`` or ``Connection`` on the psycopg driver, or Django's
``django.db.connection`` (Django 4.2+ with psycopg 3), on the database of the
queue's backend (a ``postgresql://`` backend: :class:`PostgresBackend`). Every
enqueue of the block (and of an ``atomic()`` inside it) is written at once
through that connection, in a savepoint of its open transaction
(``PostgresBackend.enqueue_within``); a duplicate id or a missing dependency
raises there and rolls back only the savepoint. The app's commit makes the
jobs visible to workers and wakes them (the NOTIFY goes out at the commit);
its rollback leaves no job. On a connection with no transaction open
(autocommit), the jobs are stored at once.

This is the seam of :mod:`joblane.pending`: :func:`using` sets a context
variable, and a provider registered ahead of the others (``first=True``)
returns, while it is set, a :class:`~joblane.pending.Pending` whose ``add``
writes through the connection. It is explicit (a block names the connection)
because only the app knows which connection holds its transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

from joblane.backends.base import Backend
from joblane.core.job import JobRecord
from joblane.errors import ConfigurationError
from joblane.pending import Pending, SharesTransaction, add_provider

__all__ = ["using"]

_connection: ContextVar[object | None] = ContextVar("joblane_postgres", default=None)


class InTransaction:
    """Where the enqueues of a :func:`using` block go: the app's connection."""

    def __init__(self, connection: object) -> None:
        self.connection = connection

    def add(self, backend: Backend, records: Sequence[JobRecord], unique: bool) -> list[JobRecord]:
        if not isinstance(backend, SharesTransaction):
            raise ConfigurationError(
                f"joblane.contrib.postgres.using: the queue's backend {backend.url!r} cannot "
                "write in the app's transaction (it needs a postgresql:// backend on the "
                "app's database)"
            )
        return backend.enqueue_within(self.connection, records, unique=unique)


def _provider() -> Pending | None:
    connection = _connection.get()
    return None if connection is None else InTransaction(connection)


@contextmanager
def using(connection: object) -> Iterator[None]:
    """Write the enqueues of the block through *connection*, in its transaction."""
    add_provider(_provider, first=True)
    token = _connection.set(driver_connection(connection))
    try:
        yield
    finally:
        _connection.reset(token)


def driver_connection(connection: object) -> object:
    """The psycopg connection under *connection*: itself, an SQLAlchemy
    ``Session``'s or ``Connection``'s (beginning the session's transaction),
    or a Django ``DatabaseWrapper``'s (opening it). Anything else is returned
    as it is (``enqueue_within`` says what it needs)."""
    if hasattr(connection, "ensure_connection") and hasattr(connection, "vendor"):
        connection.ensure_connection()  # Django's DatabaseWrapper
        return connection.connection  # type: ignore[attr-defined]
    if hasattr(connection, "get_bind") and callable(getattr(connection, "connection", None)):
        connection = connection.connection()  # type: ignore[attr-defined]  # an SQLAlchemy Session
    inner = getattr(connection, "connection", None)  # an SQLAlchemy Connection
    driver = getattr(inner, "driver_connection", None)
    return driver if driver is not None else connection
