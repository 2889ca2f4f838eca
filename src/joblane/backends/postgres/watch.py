"""Waking waiters when jobs may have changed: LISTEN on the schema's channel.

The ``jobs`` triggers (schema.sql) NOTIFY ``joblane.<schema>`` when a
statement stored jobs or changed a status; PostgreSQL delivers the
notification at the commit, so a job of an app's rolled-back transaction wakes
no one. The payload is the writer's ``application_name``: a backend object
names its sessions ``joblane-<origin>``, wakes its own waiters at once after
its own commits (:meth:`ChangeListener.notify`), and ignores the notification
of them that follows (else each of its changes would count twice).

One session per backend object listens; the waiting threads take turns to
read it (one reads, the others wait on a Condition for what it read; a forked child
opens a session of its own). A wait
starts with a round trip on that session (``SELECT 1``) unless one is in
progress, so that a notification of a commit made before the call has arrived
when it returns. If the session breaks, the next reader opens another, and
that counts as a change (a spurious wake-up: changes may have been missed
meanwhile, never a missed one).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

Connection = psycopg.Connection[Any]
_INHERITED: list[Connection] = []
"""Sessions a forked child inherited: kept referenced, never used."""
READ_SLICE = 0.25
"""Seconds one reader blocks at most before it lets the others see the time."""


class ChangeListener:
    def __init__(self, connect: Callable[[], Connection], channel: str, origin: str) -> None:
        self._connect = connect
        self._channel = channel
        self._origin = origin
        self._changed = threading.Condition()
        self._version = 0
        self._reading = False
        self._conn: Connection | None = None
        self._had_session = False
        self._seen = threading.local()
        self._closed = False
        self._pid = os.getpid()

    def _after_fork(self) -> None:
        """In a forked child: the parent's session is left unused and unclosed
        (psycopg closes a connection only in the process that opened it)."""
        if self._conn is not None:
            _INHERITED.append(self._conn)
        self._conn = None
        self._changed = threading.Condition()
        self._reading = False
        self._seen = threading.local()
        self._pid = os.getpid()

    def notify(self) -> None:
        """A commit was made through this backend object."""
        with self._changed:
            self._version += 1
            self._changed.notify_all()

    def check(self, send: Callable[[str], None], timeout: float) -> bool:
        """Whether a notification sent now (by *send*, given a payload of its
        own, through another session) reaches the listening session within
        *timeout* seconds. A worker checks this at start: behind PgBouncer's
        transaction pooling, LISTEN succeeds but nothing is ever delivered."""
        payload = f"{self._origin}-check"
        deadline = time.monotonic() + timeout
        self._acquire_reader()
        try:
            conn = self._session()
            send(payload)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                received = list(conn.notifies(timeout=left, stop_after=1))
                if any(n.payload != self._origin for n in received):
                    self.notify()
                if any(n.payload == payload for n in received):
                    return True
        finally:
            self._release_reader()

    def wait(self, timeout: float) -> bool:
        """True once a change made since this thread's previous call is seen;
        False after *timeout* seconds without one (0: only check)."""
        if self._pid != os.getpid():
            self._after_fork()
        deadline = time.monotonic() + max(timeout, 0.0)
        with self._changed:
            version = self._version
        last: int = getattr(self._seen, "last", version)
        synced = False
        while version == last:
            remaining = deadline - time.monotonic()
            if synced and remaining <= 0:
                break
            self._step(min(READ_SLICE, remaining) if synced else 0.0)
            synced = True
            with self._changed:
                version = self._version
        self._seen.last = version
        return version != last

    def _step(self, timeout: float) -> None:
        """Read the session for up to *timeout* seconds (0: one round trip), or,
        if another thread reads it, wait for what it reads."""
        with self._changed:
            mine = not self._reading
            if mine:
                self._reading = True
            else:
                self._changed.wait(max(timeout, 0.01))
                return
        try:
            self._read(timeout)
        finally:
            self._release_reader()

    def _acquire_reader(self) -> None:
        with self._changed:
            while self._reading:
                self._changed.wait()
            self._reading = True

    def _release_reader(self) -> None:
        with self._changed:
            self._reading = False
            self._changed.notify_all()

    def _session(self) -> Connection:
        if self._conn is None or self._conn.closed:
            self._conn = None
            if self._closed:
                raise psycopg.OperationalError("the listener is closed")
            conn = self._connect()
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
            self._conn = conn
            if self._had_session:
                self.notify()  # a new session: changes may have been missed meanwhile
            self._had_session = True
        return self._conn

    def _read(self, timeout: float) -> None:
        """One round trip (timeout 0), or wait up to *timeout* for notifications."""
        try:
            conn = self._session()
            if timeout <= 0:
                conn.execute("SELECT 1")
                received = list(conn.notifies(timeout=0))
            else:
                received = list(conn.notifies(timeout=timeout, stop_after=1))
        except psycopg.Error:
            self._drop()
            # The wait goes on without a session; the next read opens one.
            time.sleep(min(max(timeout, 0.0), 0.05))
            return
        if any(n.payload != self._origin for n in received):
            self.notify()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def close(self) -> None:
        self._closed = True
        self._acquire_reader()
        try:
            self._drop()
        finally:
            self._release_reader()
