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
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis
import redis.asyncio as aredis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from joblane.backends.aioloop import LoopState as BaseLoopState
from joblane.backends.aioloop import PerLoop, Wakeups
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


class AsyncChanges(Wakeups):
    """The change channel's messages on one loop, as futures that waiters await."""

    def __init__(self, client: aredis.Redis, channel: str) -> None:
        super().__init__()
        self._client = client
        self._channel = channel

    async def watch(self, timeout: float) -> asyncio.Future[None] | None:
        """A future completed by the next change message, the subscription
        confirmed first (within *timeout* seconds); None if it could not be."""
        return await self.watch_after(lambda: self._subscribe(timeout))

    async def _subscribe(self, timeout: float) -> bool:
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
        self.read_with(self._read(pubsub))
        return True

    async def _read(self, pubsub: PubSub) -> None:
        try:
            while True:
                message = await pubsub.get_message(timeout=None)
                if message is not None and message.get("type") == "message":
                    self.wake()
        except (redis.exceptions.RedisError, OSError):
            pass  # dropped: the next waiter subscribes again
        finally:
            with contextlib.suppress(redis.exceptions.RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]


class LoopState(BaseLoopState):
    """What one event loop holds: its client and its change subscription."""

    def __init__(self, client: aredis.Redis, channel: str) -> None:
        super().__init__()
        self.client = client
        self.changes = AsyncChanges(client, channel)
        self.clock_task: asyncio.Task[None] | None = None

    async def release(self) -> None:
        await self.changes.aclose()
        if self.clock_task is not None:
            self.clock_task.cancel()
        with contextlib.suppress(redis.exceptions.RedisError, OSError):
            await self.client.aclose()


class AsyncConnection(PerLoop[LoopState]):
    """The asyncio clients of one backend, one per event loop, with the sync
    :class:`Connection`'s settings and retry rule (see the module)."""

    def __init__(self, connection: Connection, channel: str) -> None:
        super().__init__()
        self._conn = connection
        self._channel = channel

    def new_state(self) -> LoopState:
        return LoopState(self._client(self._conn.longest_wait), self._channel)

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


async def _measure(client: aredis.Redis, redis_clock: RedisClock) -> None:
    try:
        async with asyncio.timeout(CLOCK_TIMEOUT):
            before = time.monotonic()
            seconds, micros = await client.time()
            redis_clock.measured(before, seconds + micros / 1e6, time.monotonic())
    except (redis.exceptions.RedisError, TimeoutError, OSError):
        pass  # postponed already: the last offset stays
