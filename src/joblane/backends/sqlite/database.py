"""One SQLite file: its connections, pragmas, schema and transactions.

Connections are per thread (``threading.local``), not one connection behind a
lock. A lock would serialize every thread of a web app's threadpool behind
each fsync (about 0.2 ms here) and behind every read, while SQLite already
arbitrates writers between processes with its file locks, which this backend
must handle anyway (busy retries below). With a connection per thread, WAL
lets reads run beside a write, and writers queue on SQLite's lock. Each
connection is used by its own thread only; ``check_same_thread=False`` is there
so that :meth:`Database.close` may close them all from one thread. A thread's
connection is closed when the thread ends (its ``threading.local`` goes away).

Every write transaction is ``BEGIN IMMEDIATE``: it takes the write lock first,
so it never fails half-way on a lock upgrade (``SQLITE_BUSY_SNAPSHOT``).
SQLite's busy handler waits up to *busy_timeout* for the lock; the cases it does
not cover (WAL recovery, a concurrent first open) are retried here with a
growing, jittered sleep, bounded by the same timeout, after which BackendError
says that the file stayed locked.

After ``os.fork()`` the child drops its references to the parent's
connections without closing them (they are parked in ``_INHERITED``) and opens
its own if it uses the database at all; a worker's children exit with
``os._exit`` and never finalize them. The parent keeps its connections as they
were.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from typing import TypeVar

from joblane.backends.sqlite.queries import SCHEMA, SCHEMA_VERSION
from joblane.backends.sqlite.watch import ChangeWatcher
from joblane.core.job import DEFAULT_FAILURE_TTL, expiry
from joblane.errors import BackendError, SchemaVersionError

T = TypeVar("T")

DEFAULT_FILE_MODE = 0o600
"""Permissions of a new database file (and so of its -wal and -shm): the owner's only."""
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024
"""Bytes the WAL file is truncated to after a checkpoint that emptied it."""
CACHE_SIZE_KIB = 16 * 1024
"""Each connection's page cache at most, KiB (``PRAGMA cache_size``; SQLite's
default is 2,000 KiB). Pages are allocated as they are first read, so a
connection holds no more than the pages it has used: a small file costs its
size. A file of 10^6 jobs (600 MB) has about 3.5 MiB of B-tree interior pages,
and a promotion batch of 1,000 jobs changes up to 1,000 table pages: the
default cache holds neither, so seeks read the same pages again through the
OS and a large transaction spills to the WAL (bench/RESULTS.md)."""
_CACHE_SIZE = f"PRAGMA cache_size = -{CACHE_SIZE_KIB}"

_BUSY = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
_FIRST_RETRY_DELAY = 0.00005
_MAX_RETRY_DELAY = 0.005
# Why our own retry loop, not SQLite's busy handler (connect(timeout=...)):
# the built-in handler sleeps 1, 2, 5, 10, 15, 20, 25 ms... between tries, so an
# enqueue that meets a worker's 100 us claim waited milliseconds, and one that
# met a few in a row waited 30-80 ms. Write transactions here last tens of
# microseconds: retrying after 50 us, growing to 5 ms, waits about as long as
# the lock is actually held.


class _Connection:
    """A thread's connection and the ``synchronous`` level it is set to."""

    __slots__ = ("__weakref__", "cache_sized", "sqlite", "synchronous")

    def __init__(self, sqlite: sqlite3.Connection) -> None:
        self.sqlite = sqlite
        self.synchronous = ""
        self.cache_sized = False


_DATABASES: weakref.WeakSet[Database] = weakref.WeakSet()
_DATABASES_LOCK = threading.Lock()
"""Guards _DATABASES; held across a fork, so the child finds it consistent."""
_FORKING: list[_Connection] = []
"""Every open connection, held strongly while a fork happens, so that a child
cannot finalize one when it discards the parent's other threads."""
_INHERITED: list[_Connection] = []
"""Connections a forked child inherited: kept referenced so it never closes them."""


def _before_fork() -> None:
    _DATABASES_LOCK.acquire()
    for database in _DATABASES:
        _FORKING.extend(database.open_connections())


def _after_fork_in_parent() -> None:
    _FORKING.clear()
    _DATABASES_LOCK.release()


def _after_fork_in_child() -> None:
    _INHERITED.extend(_FORKING)
    _FORKING.clear()
    for database in _DATABASES:
        database.forget_connections_after_fork()
    _DATABASES_LOCK.release()


os.register_at_fork(
    before=_before_fork,
    after_in_parent=_after_fork_in_parent,
    after_in_child=_after_fork_in_child,
)


class Database:
    """The SQLite file at *path*, opened on first use in each thread."""

    def __init__(
        self,
        path: str,
        *,
        durable_enqueue: bool,
        busy_timeout: float,
        file_mode: int = DEFAULT_FILE_MODE,
    ) -> None:
        self.path = path
        self.durable_enqueue = durable_enqueue
        self.busy_timeout = busy_timeout
        self.file_mode = file_mode
        self._local = threading.local()
        self._open_connections: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._watch: _Connection | None = None
        self._watch_lock = threading.Lock()
        self._closed = False
        self.changes = ChangeWatcher(self.data_version, path + "-wal")
        with _DATABASES_LOCK:
            _DATABASES.add(self)
        try:
            self.retrying(self._create_schema)
        except BaseException:
            self.close()  # a refused file (SchemaVersionError) leaves no connection open
            raise

    # -- connections -----------------------------------------------------------

    def _connection(self) -> _Connection:
        conn: _Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
        return conn

    def _open(self) -> _Connection:
        with self._lock:
            if self._closed:
                raise BackendError(f"the SQLite backend for {self.path} is closed")
            try:
                _create_file(self.path, self.file_mode)
                sqlite = sqlite3.connect(
                    self.path,
                    timeout=0,  # busy: raise at once, and retrying() tries again
                    isolation_level=None,  # transactions are explicit: BEGIN IMMEDIATE
                    check_same_thread=False,
                )
                sqlite.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")
            except OSError as exc:
                raise BackendError(
                    f"cannot open the SQLite database {self.path}: {exc.strerror}"
                ) from exc
            except sqlite3.Error as exc:
                raise BackendError(f"cannot open the SQLite database {self.path}: {exc}") from exc
            # core's rule for "kept for ttl seconds from now", for the queries.
            sqlite.create_function("expiry", 2, _expiry, deterministic=True)
            conn = _Connection(sqlite)
            # Closed explicitly when its thread ends (the thread-local goes away),
            # not left to the garbage collector; never at exit, which may be a
            # forked child's.
            weakref.finalize(conn, sqlite.close).atexit = False
            self._open_connections.add(conn)
            return conn

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conns = list(self._open_connections)
            self._open_connections = weakref.WeakSet()
            self._local = threading.local()
            self._watch = None
        self.changes.close()
        for conn in conns:
            conn.sqlite.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def open_connections(self) -> list[_Connection]:
        with self._lock:
            return list(self._open_connections)

    def forget_connections_after_fork(self) -> None:
        """In a forked child: drop the parent's connections, unused and unclosed
        (``_after_fork_in_child`` keeps them referenced)."""
        self._open_connections = weakref.WeakSet()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._watch = None
        self._watch_lock = threading.Lock()
        self.changes.forget_after_fork()
        self.changes = ChangeWatcher(self.data_version, self.path + "-wal")

    # -- running statements ----------------------------------------------------

    def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run *fn* (statements in autocommit mode), retrying while the file is busy."""
        return self.retrying(fn)

    def write(
        self, fn: Callable[[sqlite3.Connection], T], *, durable: bool, notify: bool = True
    ) -> T:
        """Run *fn* in one ``BEGIN IMMEDIATE`` transaction and commit it.

        *durable*: the commit is fsynced before this returns (``synchronous=FULL``),
        unless the backend was opened with ``durability="normal"``. Otherwise
        ``synchronous=NORMAL``: see the package docstring for why that is safe.
        On any exception the transaction is rolled back and nothing is stored.
        """
        level = "FULL" if durable and self.durable_enqueue else "NORMAL"

        def transaction(sqlite: sqlite3.Connection) -> T:
            conn = self._connection()
            if conn.synchronous != level:
                # Not allowed inside a transaction, hence before BEGIN.
                sqlite.execute(f"PRAGMA synchronous = {level}")
                conn.synchronous = level
            sqlite.execute("BEGIN IMMEDIATE")
            try:
                result = fn(sqlite)
                sqlite.execute("COMMIT")
            except BaseException:
                _rollback(sqlite)
                raise
            return result

        result = self.retrying(transaction)
        if notify:
            self.changes.notify()
        return result

    def retrying(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run *fn* on this thread's connection; while SQLite says the file is busy,
        run it again after a growing sleep, for at most *busy_timeout* seconds."""
        conn = self._connection()
        sqlite = conn.sqlite
        deadline = time.monotonic() + self.busy_timeout
        delay = _FIRST_RETRY_DELAY
        while True:
            try:
                if not conn.cache_sized:
                    # Here, not in _open: this pragma reads the schema, so it may
                    # meet a lock (another process creating the file).
                    sqlite.execute(_CACHE_SIZE)
                    conn.cache_sized = True
                return fn(sqlite)
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF not in _BUSY:
                    raise BackendError(f"SQLite error on {self.path}: {exc}") from exc
                if time.monotonic() >= deadline:
                    raise BackendError(
                        f"the SQLite database {self.path} stayed locked for "
                        f"{self.busy_timeout:g} s (busy_timeout): another connection held "
                        f"its write lock all that time ({exc})"
                    ) from exc
            except sqlite3.Error as exc:
                raise BackendError(f"SQLite error on {self.path}: {exc}") from exc
            time.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, _MAX_RETRY_DELAY)

    def data_version(self) -> int:
        """``PRAGMA data_version`` of a connection that never writes: it changes
        whenever another connection commits."""
        with self._watch_lock:
            if self._watch is None:
                self._watch = self._open()
                self._watch.sqlite.execute("PRAGMA query_only = ON")
            try:
                rows = self._watch.sqlite.execute("PRAGMA data_version").fetchall()
            except sqlite3.Error as exc:
                raise BackendError(f"SQLite error on {self.path}: {exc}") from exc
        version: int = rows[0][0]
        return version

    # -- schema ----------------------------------------------------------------

    def _create_schema(self, sqlite: sqlite3.Connection) -> None:
        """Create the tables in a new file; refuse a file of another schema version
        (SchemaVersionError: ``joblane migrate`` upgrades an older one). Many
        processes may race to create the tables."""
        if self._user_version(sqlite) == SCHEMA_VERSION:
            return
        # The journal mode is stored in the file; it cannot change inside a transaction.
        mode = sqlite.execute("PRAGMA journal_mode = WAL").fetchall()[0][0]
        if mode != "wal":
            raise BackendError(f"cannot put the SQLite database {self.path} in WAL mode ({mode})")
        sqlite.execute("BEGIN IMMEDIATE")
        try:
            if self._user_version(sqlite) == 0:
                for statement in SCHEMA:
                    sqlite.execute(statement)
                sqlite.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            sqlite.execute("COMMIT")
        except BaseException:
            _rollback(sqlite)
            raise

    def _user_version(self, sqlite: sqlite3.Connection) -> int:
        """The file's schema version: 0 for a new file, else SCHEMA_VERSION, or
        SchemaVersionError."""
        version = schema_version(sqlite)
        if version not in (0, SCHEMA_VERSION):
            raise SchemaVersionError(f"the SQLite database {self.path}", version, SCHEMA_VERSION)
        return version


def schema_version(sqlite: sqlite3.Connection) -> int:
    """``PRAGMA user_version``: the schema version of the file (0 for a new one)."""
    version: int = sqlite.execute("PRAGMA user_version").fetchall()[0][0]
    return version


def _create_file(path: str, mode: int) -> None:
    """Create the database file with *mode*, exactly (the umask aside), unless
    it exists. SQLite creates the ``-wal`` and ``-shm`` files with the mode of
    the database file, so they follow it. The file is never more open than the
    owner's bits before the ``fchmod``."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode & 0o700)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def _expiry(now: float, failure_ttl: object) -> float | None:
    """:func:`joblane.core.job.expiry` for the queries, which pass a failure_ttl:
    one that is not an integer (a corrupt row) counts as the default, so that
    the statement, and the transaction it is part of, does not fail."""
    ttl = failure_ttl if type(failure_ttl) is int else DEFAULT_FAILURE_TTL
    return expiry(now, ttl)


def _rollback(sqlite: sqlite3.Connection) -> None:
    if sqlite.in_transaction:
        # If this fails, SQLite has rolled the transaction back itself already.
        with contextlib.suppress(sqlite3.Error):
            sqlite.execute("ROLLBACK")
