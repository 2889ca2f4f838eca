"""The async side of the Redis backend: ``redis.asyncio`` clients, one per event loop.

The async producer calls (:class:`~joblane.backends.base.AsyncBackendOps`:
``aenqueue``, ``aget``, ``aget_many``, ``await_end``) run on the caller's
event loop and never block it: every wait is an ``await`` on a socket.

One client per event loop
-------------------------
An asyncio connection belongs to the loop that opened it, so each loop gets a
client of its own (:class:`AsyncConnection`, a weak mapping from the running
loop to its :class:`LoopState`). The client is closed with its loop: the state
holds an async generator, started on that loop, whose ``finally`` closes the
client and the change subscription; the loop's runner (``asyncio.run``,
``asyncio.Runner``, uvicorn) closes every such generator when it shuts down
(``loop.shutdown_asyncgens``). ``RedisBackend.aclose()`` closes the running
loop's client at once; ``RedisBackend.close()`` closes each one on its own
loop. A state made before ``os.fork()`` is never used in the child (its
sockets are the parent's): the child opens its own.

Deadlines and retries
---------------------
:meth:`AsyncConnection.call` follows the rule of :meth:`Connection.call`
(``connection.py``) with the same :class:`~joblane.backends.redis.connection.Tries`:
the same timeouts, back-off, deadline (``retry_for``) and errors
(BackendError; EnqueueOutcomeUnknownError when the enqueue may have run). Its
pauses are ``asyncio.sleep``. One difference, for speed: an attempt is bounded
as a whole by ``asyncio.timeout`` (the longer of ``socket_timeout`` and
``socket_connect_timeout``, never past the deadline) rather than each socket
read and write by redis-py's ``socket_timeout``, which costs a task per
command (``asyncio.wait_for``); connecting keeps its own timeout, so a
connection that could not be made still counts as "not sent", and an attempt
cut short after that counts as "may have run", as a lost reply does.

The clock's offset to Redis time is refreshed here too
(:meth:`AsyncConnection.refresh_clock`), so that ``now()`` on the loop's
thread never makes a blocking round trip.

Waiting for a job's end
-----------------------
:class:`AsyncChanges` is one pub/sub subscription per loop on the change
channel (``watch.py`` is the sync side). A waiter first makes sure the
subscription is confirmed, takes the future of the next change, then reads
the job: a change made after that read completes the future, so none is
missed, and no waiter polls. If the subscription cannot be made (Redis
unreachable) the waiter sleeps out its turn and reads again (and meets the
error there).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import redis
import redis.asyncio as aredis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from joblane.backends.redis.connection import (
    CLOCK_TIMEOUT,
    Connection,
    RedisClock,
    Tries,
)
from joblane.core.clock import Clock
from joblane.errors import BackendError, ConfigurationError

T = TypeVar("T")

SUBSCRIBE_TIMEOUT = 5.0
"""Seconds to wait for Redis to confirm the subscription."""


class AsyncChanges:
    """The change channel's messages on one loop, as futures that waiters await."""

    def __init__(self, client: aredis.Redis, channel: str) -> None:
        self._client = client
        self._channel = channel
        self._reader: asyncio.Task[None] | None = None
        self._next: asyncio.Future[None] | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    async def watch(self, timeout: float) -> asyncio.Future[None] | None:
        """A future completed by the next change message, the subscription
        confirmed first (within *timeout* seconds); None if it could not be."""
        if self._reader is None or self._reader.done():
            async with self._lock:
                if (self._reader is None or self._reader.done()) and not await self._subscribe(
                    timeout
                ):
                    return None
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
        return self._next

    async def _subscribe(self, timeout: float) -> bool:
        if self._closed:
            return False
        pubsub = self._client.pubsub()
        try:
            async with asyncio.timeout(min(max(timeout, 0.01), SUBSCRIBE_TIMEOUT)):
                await pubsub.subscribe(self._channel)
                # Until Redis confirms, a change would publish to no one.
                while True:
                    message = await pubsub.get_message(timeout=SUBSCRIBE_TIMEOUT)
                    if message is not None and message.get("type") == "subscribe":
                        break
        except (redis.exceptions.RedisError, TimeoutError, OSError):
            with contextlib.suppress(redis.exceptions.RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            return False
        self._reader = asyncio.get_running_loop().create_task(self._read(pubsub))
        return True

    async def _read(self, pubsub: PubSub) -> None:
        try:
            while True:
                message = await pubsub.get_message(timeout=None)
                if message is not None and message.get("type") == "message":
                    self._wake()
        except (redis.exceptions.RedisError, OSError):
            pass  # dropped: the next waiter subscribes again
        finally:
            self._wake()  # messages may have been missed: a spurious wake-up
            with contextlib.suppress(redis.exceptions.RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

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
    """What one event loop holds: its client and its change subscription."""

    def __init__(self, client: aredis.Redis, channel: str) -> None:
        self.client = client
        self.changes = AsyncChanges(client, channel)
        self.pid = os.getpid()
        self.closed = False
        self.clock_task: asyncio.Task[None] | None = None
        self._closer: AsyncIterator[None] | None = None

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
        if self.clock_task is not None:
            self.clock_task.cancel()
        with contextlib.suppress(redis.exceptions.RedisError, OSError):
            await self.client.aclose()


class AsyncConnection:
    """The asyncio clients of one backend, one per event loop, with the sync
    :class:`Connection`'s settings and retry rule (see the module)."""

    def __init__(self, connection: Connection, channel: str) -> None:
        self._conn = connection
        self._channel = channel
        self._states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopState] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    def _client(self, limit: float) -> aredis.Redis:
        """An asyncio client that connects within *limit* seconds at most. Its
        reads and writes have no timeout of their own: each attempt is bounded
        as a whole (:meth:`call`)."""
        conn = self._conn
        try:
            return aredis.Redis.from_url(
                conn.plain_url,
                retry=Retry(ExponentialBackoff(), 0),
                socket_timeout=None,
                socket_connect_timeout=min(conn.connect_timeout, limit),
                **conn.options,
            )
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(f"invalid Redis URL {conn.display_url!r}: {exc}") from exc

    async def state(self) -> LoopState:
        """The running loop's state, made on first use."""
        loop = asyncio.get_running_loop()
        state = self._states.get(loop)
        if state is not None and not state.closed and state.pid == os.getpid():
            return state
        state = LoopState(self._client(self._conn.longest_wait), self._channel)
        await state.hold()
        with self._lock:
            self._states[loop] = state
        return state

    async def call(
        self,
        operation: Callable[[aredis.Redis, int], Awaitable[T]],
        what: str = "",
        *,
        unknown: Callable[[str], BackendError] | None = None,
    ) -> T:
        """``await operation(client, attempt)`` under the rule of
        :meth:`Connection.call`: retried while Redis is away, returning or
        raising within ``retry_for`` seconds."""
        tries = Tries(self._conn, what, unknown)
        usual = (await self.state()).client
        client, limit = usual, self._conn.longest_wait
        while True:
            try:
                async with asyncio.timeout(limit):
                    return await operation(client, tries.attempt)
            except redis.exceptions.RedisError as exc:
                pause = tries.failed(exc)
            except TimeoutError:  # sent, or being sent: it may have run
                lost = redis.exceptions.TimeoutError(f"no reply within {limit:g} s")
                pause = tries.failed(lost)
            finally:
                if client is not usual:
                    with contextlib.suppress(redis.exceptions.RedisError, OSError):
                        await client.aclose()
                    client = usual
            await asyncio.sleep(pause)
            shorter = tries.next()
            if shorter is not None:
                client, limit = self._client(shorter), shorter
            else:
                limit = self._conn.longest_wait

    async def refresh_clock(self, redis_clock: RedisClock, clock: Clock) -> None:
        """Measure the offset to Redis time when it is due, in a task of its
        own (at most CLOCK_TIMEOUT; a failure keeps the last offset)."""
        if clock is not redis_clock or not redis_clock.due():
            return
        state = await self.state()
        if state.clock_task is None or state.clock_task.done():
            redis_clock.postpone()  # one measurement at a time
            state.clock_task = asyncio.get_running_loop().create_task(
                _measure(state.client, redis_clock)
            )

    async def aclose(self) -> None:
        """Close the running loop's client and subscription."""
        with self._lock:
            state = self._states.pop(asyncio.get_running_loop(), None)
        if state is not None:
            await state.aclose()

    def close(self) -> None:
        """Close every loop's client, each on its own loop (soon, if that
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


async def _measure(client: aredis.Redis, redis_clock: RedisClock) -> None:
    try:
        async with asyncio.timeout(CLOCK_TIMEOUT):
            before = time.monotonic()
            seconds, micros = await client.time()
            redis_clock.measured(before, seconds + micros / 1e6, time.monotonic())
    except (redis.exceptions.RedisError, TimeoutError, OSError):
        pass  # postponed already: the last offset stays
