"""One PostgreSQL database: the connection pool, bounded retries, the schema check.

Connections come from a ``psycopg_pool.ConnectionPool`` (*pool_size* at most),
in autocommit mode: an operation of one statement (a claim, a settle batch, an
enqueue on its common path) is its own transaction, one round trip; an
operation of several statements runs in ``conn.transaction()``.

Connection loss: :meth:`Database.run` runs an operation, and when the
connection fails under it (the server restarted, ``pg_terminate_backend``, a
network cut) runs it again on a new connection, with a growing pause, until
*retry_for* seconds passed; then BackendError names the URL. Operations that
must not simply run again say what to do instead (``on_lost``): an enqueue
looks for its jobs (backend.py), a claim for its lease tokens. Every socket
operation is bounded too: ``connect_timeout``, and TCP keepalives, so that a
server that vanished without a reset is noticed.

After ``os.fork()`` the child makes its own pool on first use and never
touches the parent's (closing it would end the parent's sessions).
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import ConnectionPool, PoolTimeout

from joblane.backends.postgres.queries import SCHEMA_VERSION, SchemaSQL
from joblane.errors import BackendError, SchemaVersionError

T = TypeVar("T")
log = logging.getLogger("joblane.backends")

_FIRST_PAUSE = 0.05
_MAX_PAUSE = 1.0
_INHERITED: list[object] = []
"""Pools a forked child inherited: kept referenced, never closed (see the module)."""

Connection = psycopg.Connection[Any]


def said(exc: BaseException) -> str:
    """What psycopg (or the server) said, on one line (its messages end with a
    newline, a server's may add DETAIL and HINT lines)."""
    return "; ".join(line.strip() for line in str(exc).strip().splitlines() if line.strip())


class Lost(Exception):
    """The connection failed during an operation; *sent*: the operation may
    have reached the server (its outcome is unknown)."""

    def __init__(self, cause: BaseException, sent: bool) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.sent = sent


def connection_lost(exc: BaseException) -> bool:
    """Whether *exc* means the session is gone (run the operation again on a
    new one), not that the statement failed."""
    if isinstance(exc, PoolTimeout):
        return True
    if isinstance(
        exc,
        pg_errors.AdminShutdown
        | pg_errors.CrashShutdown
        | pg_errors.CannotConnectNow
        | pg_errors.IdleSessionTimeout,
    ):
        return True
    return isinstance(exc, psycopg.OperationalError) and exc.sqlstate in (None, "08000",
        "08003", "08006", "08001", "08004", "57P01", "57P02", "57P03")  # fmt: skip


class Database:
    """The pool of one URL and its schema's statements."""

    def __init__(
        self,
        conninfo: str,
        *,
        display_url: str,
        statements: SchemaSQL,
        schema: str,
        pool_size: int,
        retry_for: float,
        connect_timeout: float,
        application_name: str,
        prepare: bool,
    ) -> None:
        self.conninfo = conninfo
        self.display_url = display_url
        self.sql = statements
        self.schema = schema
        self.pool_size = pool_size
        self.retry_for = retry_for
        self.connect_timeout = connect_timeout
        self.application_name = application_name
        self.prepare = prepare
        self._lock = threading.Lock()
        self._pool: ConnectionPool[Connection] | None = None
        self._pid = os.getpid()
        self.closed = False

    def connect_kwargs(self) -> dict[str, Any]:
        """psycopg.connect's arguments for a session of this backend."""
        kwargs: dict[str, Any] = {
            "autocommit": True,
            "connect_timeout": max(1, round(self.connect_timeout)),
            "application_name": self.application_name,
            "keepalives": 1,
            "keepalives_idle": 5,
            "keepalives_interval": 2,
            "keepalives_count": 3,
        }
        if not self.prepare:
            kwargs["prepare_threshold"] = None  # PgBouncer in transaction pooling
        return kwargs

    def connect(self) -> Connection:
        """A new session of its own (the watcher's, migrate's)."""
        return psycopg.connect(self.conninfo, **self.connect_kwargs())

    def pool(self) -> ConnectionPool[Connection]:
        with self._lock:
            if self.closed:
                raise BackendError(f"the PostgreSQL backend for {self.display_url} is closed")
            if self._pool is not None and self._pid != os.getpid():
                _INHERITED.append(self._pool)  # the parent's: never closed here
                self._pool = None
            if self._pool is None:
                self._pid = os.getpid()
                self._pool = ConnectionPool(
                    self.conninfo,
                    min_size=1,
                    max_size=self.pool_size,
                    kwargs=self.connect_kwargs(),
                    timeout=self.connect_timeout,
                    reconnect_timeout=max(self.retry_for, 1.0),
                    name=f"joblane-{self.schema}",
                    open=False,
                )
                self._pool.open(wait=False)
            return self._pool

    def close(self) -> None:
        with self._lock:
            self.closed = True
            pool, self._pool = self._pool, None
        if pool is not None and self._pid == os.getpid():
            pool.close(timeout=1.0)

    # -- running operations ----------------------------------------------------

    def run(
        self,
        fn: Callable[[Connection], T],
        what: str,
        on_lost: Callable[[Connection, Lost], T | None] | None = None,
        *,
        unknown: Callable[[str], BackendError] | None = None,
    ) -> T:
        """``fn(conn)`` on a pooled connection; again on a new one while the
        connection is lost, within *retry_for* seconds. *on_lost*, if given, runs
        first on the next connection after a loss: its answer (not None) is the
        operation's. BackendError once the time is up; statement errors pass
        through as BackendError (psycopg's) or as the joblane error *fn* raised;
        BackendError also once the time is up (*unknown*'s error if the
        operation may have reached the server)."""
        deadline = time.monotonic() + self.retry_for
        pause = _FIRST_PAUSE
        lost: Lost | None = None
        first_loss = True
        while True:
            sending = False
            pool: ConnectionPool[Connection] | None = None
            try:
                pool = self.pool()
                with pool.connection(timeout=max(deadline - time.monotonic(), 0.05)) as conn:
                    sending = True
                    if lost is not None and on_lost is not None:
                        answer = on_lost(conn, lost)
                        if answer is not None:
                            return answer
                    return fn(conn)
            except BackendError:
                raise
            except psycopg.Error as exc:
                if isinstance(exc, PoolTimeout):
                    exc = self._why_no_connection(exc)
                if not connection_lost(exc):
                    raise BackendError(
                        f"PostgreSQL error on {self.display_url} ({what}): {said(exc)}"
                    ) from exc
                # Once a connection was in hand, the statement may have reached
                # the server: a session that breaks cannot say when it broke.
                lost = Lost(exc, sending or (lost is not None and lost.sent))
            if pool is not None and not isinstance(lost.cause, PoolTimeout):
                # The server may have restarted: every idle connection of the
                # pool is as dead as this one. Drop them now, not one per try.
                with contextlib.suppress(Exception):
                    pool.check()
                if first_loss:
                    first_loss = False
                    continue  # a new connection right away
            left = deadline - time.monotonic()
            if left <= 0:
                if lost.sent and unknown is not None:
                    raise unknown(self.gave_up(what, lost).args[0]) from lost.cause
                raise self.gave_up(what, lost) from lost.cause
            time.sleep(min(pause * random.uniform(0.5, 1.5), left))
            pause = min(pause * 2, _MAX_PAUSE)

    def _why_no_connection(self, timeout: PoolTimeout) -> psycopg.Error:
        """The pool had no connection to give: what a connection attempt says
        (a refused password is not worth retrying), else the pool's timeout."""
        try:
            self.connect().close()
        except psycopg.Error as exc:
            return exc
        return timeout

    def gave_up(self, what: str, lost: Lost) -> BackendError:
        return BackendError(
            f"PostgreSQL at {self.display_url} stayed unreachable for {self.retry_for:g} s "
            f"(retry_for) while {what}: {said(lost.cause)}"
        )

    # -- schema ----------------------------------------------------------------

    def ensure_schema(self) -> None:
        """Create the schema if it does not exist; refuse one of another version
        (SchemaVersionError; ``joblane migrate`` upgrades an older one)."""

        def check(conn: Connection) -> None:
            version = read_version(conn, self.sql)
            if version == SCHEMA_VERSION:
                return
            if version is not None:
                raise SchemaVersionError(self.where, version, SCHEMA_VERSION)
            with conn.transaction():
                conn.execute(self.sql.queries.lock_schema, {"schema": self.schema})
                if read_version(conn, self.sql) is None:
                    # One round trip: the statements take no parameters.
                    conn.execute(b";\n".join(self.sql.create))
                    conn.execute(self.sql.queries.first_schema_version,
                                 {"version": SCHEMA_VERSION})  # fmt: skip

        self.run(check, "checking the schema")

    @property
    def where(self) -> str:
        return f"the PostgreSQL schema {self.schema!r} at {self.display_url}"


def read_version(conn: Connection, statements: SchemaSQL) -> int | None:
    """The schema's version, None if it has none yet (not created). Inside a
    transaction, a missing table rolls back to a savepoint only."""
    try:
        with conn.transaction():
            row = conn.execute(statements.queries.schema_version).fetchone()
    except pg_errors.UndefinedTable:
        return None
    except pg_errors.InvalidSchemaName:
        return None
    if row is None or row[0] is None:
        return None
    version: int = row[0]
    return version
