"""The async side of the PostgreSQL backend: psycopg's ``AsyncConnection``, per event loop.

The async producer calls (:class:`~joblane.backends.base.AsyncBackendOps`:
``aenqueue``, ``aget``, ``aget_many``, ``await_end``) run on the caller's event
loop: the common path of each is one statement awaited on a connection of
that loop, so the loop never blocks on the database. The rare paths (an id
already taken or dependencies: the careful path of enqueue; a connection lost
under a call) run the sync method on a thread (``asyncio.to_thread``), whose
retries and recognition of a lost enqueue are the sync backend's: so an
enqueue through one path is indistinguishable from one through the other.

One state per event loop
------------------------
A psycopg async connection belongs to the loop that opened it, so each loop
gets a :class:`LoopState` of its own (a weak mapping from the running loop):
one connection for statements (psycopg serializes the statements of one
connection), one listening connection for ``await_end``. It is closed with its
loop: the state holds an async generator, started on that loop, whose
``finally`` closes both; the loop's runner (``asyncio.run``, uvicorn) closes
such generators when it shuts down. A state made before ``os.fork()`` is never
used in the child.

Waiting for a job's end
-----------------------
:class:`AsyncChanges` LISTENs on the schema's channel (the ``jobs`` triggers
NOTIFY it, at the commit). A waiter makes sure the LISTEN is done, takes the
future of the next notification, then reads the job: an end committed after
that read completes the future, so none is missed, and no waiter polls. If
the listening session cannot be opened, the waiter reads again after a pause.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Any

import psycopg
from psycopg import sql

AsyncConnection = psycopg.AsyncConnection[Any]


class AsyncChanges:
    """The channel's notifications on one loop, as futures that waiters await."""

    def __init__(self, connect: Callable[[], Any], channel: str) -> None:
        self._connect = connect
        self._channel = channel
        self._reader: asyncio.Task[None] | None = None
        self._next: asyncio.Future[None] | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    async def watch(self) -> asyncio.Future[None] | None:
        """A future completed by the next notification, the LISTEN done first;
        None if the listening session could not be opened."""
        if self._reader is None or self._reader.done():
            async with self._lock:
                if (self._reader is None or self._reader.done()) and not await self._listen():
                    return None
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
        return self._next

    async def _listen(self) -> bool:
        if self._closed:
            return False
        try:
            conn: AsyncConnection = await self._connect()
        except psycopg.Error:
            return False
        try:
            await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
        except psycopg.Error:
            with contextlib.suppress(psycopg.Error):
                await conn.close()
            return False
        self._reader = asyncio.get_running_loop().create_task(self._read(conn))
        return True

    async def _read(self, conn: AsyncConnection) -> None:
        try:
            async for _ in conn.notifies():
                self._wake()
        except psycopg.Error:
            pass  # dropped: the next waiter listens again
        finally:
            self._wake()  # notifications may have been missed: a spurious wake-up
            with contextlib.suppress(psycopg.Error):
                await conn.close()

    def _wake(self) -> None:
        future, self._next = self._next, None
        if future is not None and not future.done():
            future.set_result(None)

    async def aclose(self) -> None:
        self._closed = True
        reader, self._reader = self._reader, None
        if reader is not None and not reader.done():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        self._wake()


class LoopState:
    """What one event loop holds: its statement connection and its listener."""

    def __init__(self, connect: Callable[[], Any], channel: str) -> None:
        self._connect = connect
        self.conn: AsyncConnection | None = None
        self.lock = asyncio.Lock()
        self.changes = AsyncChanges(connect, channel)
        self.pid = os.getpid()
        self.closed = False
        self._closer: AsyncIterator[None] | None = None

    async def connection(self) -> AsyncConnection:
        """The statement connection, opened on first use (psycopg errors pass)."""
        if self.conn is None or self.conn.closed:
            async with self.lock:
                if self.conn is None or self.conn.closed:
                    self.conn = await self._connect()
        return self.conn

    async def drop(self) -> None:
        """Forget the statement connection (lost, or in an unknown state)."""
        conn, self.conn = self.conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                await conn.close()

    async def hold(self) -> None:
        """Start the generator that closes this state when the loop shuts down."""

        async def closer() -> AsyncIterator[None]:
            try:
                yield
            finally:
                await self.aclose()

        self._closer = closer()
        await anext(self._closer)

    async def aclose(self) -> None:
        if self.closed:
            return
        self.closed = True
        await self.changes.aclose()
        await self.drop()


class AsyncSide:
    """The loop states of one backend (see the module)."""

    def __init__(self, connect: Callable[[], Any], channel: str) -> None:
        self._connect = connect
        self._channel = channel
        self._states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopState] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    async def state(self) -> LoopState:
        loop = asyncio.get_running_loop()
        state = self._states.get(loop)
        if state is not None and not state.closed and state.pid == os.getpid():
            return state
        state = LoopState(self._connect, self._channel)
        await state.hold()
        with self._lock:
            self._states[loop] = state
        return state

    async def aclose(self) -> None:
        with self._lock:
            state = self._states.pop(asyncio.get_running_loop(), None)
        if state is not None:
            await state.aclose()

    def close(self) -> None:
        """Close every loop's connections, each on its own loop (soon, if that
        loop is not running now; at its shutdown at the latest)."""
        with self._lock:
            states = list(self._states.items())
            self._states.clear()
        for loop, state in states:
            if state.pid != os.getpid() or loop.is_closed():
                continue
            with contextlib.suppress(RuntimeError):  # closed meanwhile
                loop.call_soon_threadsafe(_close_soon, loop, state)


_closing: set[asyncio.Task[None]] = set()


def _close_soon(loop: asyncio.AbstractEventLoop, state: LoopState) -> None:
    task = loop.create_task(state.aclose())
    _closing.add(task)
    task.add_done_callback(_closing.discard)
