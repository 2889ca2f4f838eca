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
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from joblane.backends.aioloop import LoopState as BaseLoopState
from joblane.backends.aioloop import PerLoop, Wakeups

AsyncConnection = psycopg.AsyncConnection[Any]


class AsyncChanges(Wakeups):
    """The channel's notifications on one loop, as futures that waiters await."""

    def __init__(self, connect: Callable[[], Any], channel: str) -> None:
        super().__init__()
        self._connect = connect
        self._channel = channel

    async def watch(self) -> asyncio.Future[None] | None:
        """A future completed by the next notification, the LISTEN done first;
        None if the listening session could not be opened."""
        return await self.watch_after(self._listen)

    async def _listen(self) -> bool:
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
        self.read_with(self._read(conn))
        return True

    async def _read(self, conn: AsyncConnection) -> None:
        try:
            async for _ in conn.notifies():
                self.wake()
        except psycopg.Error:
            pass  # dropped: the next waiter listens again
        finally:
            with contextlib.suppress(psycopg.Error):
                await conn.close()


class LoopState(BaseLoopState):
    """What one event loop holds: its statement connection and its listener."""

    def __init__(self, connect: Callable[[], Any], channel: str) -> None:
        super().__init__()
        self._connect = connect
        self.conn: AsyncConnection | None = None
        self.lock = asyncio.Lock()
        self.changes = AsyncChanges(connect, channel)

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

    async def release(self) -> None:
        await self.changes.aclose()
        await self.drop()


class AsyncSide(PerLoop[LoopState]):
    """The loop states of one backend (see the module)."""

    def __init__(self, connect: Callable[[], Any], channel: str) -> None:
        super().__init__()
        self._connect = connect
        self._channel = channel

    def new_state(self) -> LoopState:
        return LoopState(self._connect, self._channel)
