"""One Redis server: the client, bounded waits and retries, the checks made at start, and its clock.

Waits
-----
Every call returns or raises within *retry_for* seconds (10 by default) of
its start, whatever Redis does, even when it accepts connections and never
answers (a frozen or overloaded server, a silent network). Each socket
operation (connect, send, read a reply) blocks for at most ``socket_timeout``
(``socket_connect_timeout`` to connect), DEFAULT_SOCKET_TIMEOUT (5 s) unless
the URL sets them, and never past that deadline: the first attempt's timeouts
are at most *retry_for*, and a retry with less time left than that runs on a
client of its own whose timeouts are the time left. (With ``retry_for=0``, one
attempt of at most ``socket_timeout``.) These are joblane's own defaults, the
same with every redis-py that ``redis>=5.0`` allows: redis-py 5 would
otherwise wait for ever, redis-py 8 for 5 s a read.

Retries
-------
The redis-py client is made with its own retries off; :meth:`Connection.call`
retries instead, because only the caller knows how to repeat an operation
whose reply was lost (the script may have run): each attempt is told its
number, and enqueue, claim, cancel and requeue pass "retrying" to their
scripts, which recognise their own earlier effect (see the scripts). A lost
connection, a timeout, and Redis answering BUSY, LOADING (restarting with its
data), READONLY or MASTERDOWN are retried with an exponential back-off
(redis-py's ``ExponentialBackoff``: 20 ms doubling up to 1 s) until the
deadline, then BackendError names the URL (without its password) and the
last error. A refused password and every other error raise at once; an
out-of-memory refusal raises BackendError saying so.

Sent or not
-----------
A failure to connect (refused, unreachable, no TCP connection within
``socket_connect_timeout``) and a reply of Redis (BUSY, LOADING, ...) mean
that the command did not run. A timeout or a dropped connection after the
connection was made mean that it may have run, its reply lost (counted so even
when the connection's own set-up was what timed out: redis-py does not tell).
A caller that passes *unknown* to :meth:`Connection.call` gets that error,
instead of BackendError, when it gives up after such an attempt.

Time
----
Every machine takes its time from Redis (the TIME command), not from its own
clock: :class:`RedisClock` measures the offset between Redis time and the
local monotonic clock at connect (half a round trip of error at most) and
again every CLOCK_REFRESH seconds, and ``now()`` is the monotonic clock plus
that offset: no round trip per call, and a machine whose wall clock is off by
minutes agrees with the others to within a millisecond or so. A refresh waits
CLOCK_TIMEOUT at most (on a client of its own), then keeps the last offset.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from joblane.config import redact_url
from joblane.errors import BackendError, ConfigurationError

log = logging.getLogger("joblane.redis")

T = TypeVar("T")

DEFAULT_RETRY_FOR = 10.0
"""Seconds a call may take, retrying while Redis is unreachable, before BackendError."""
DEFAULT_SOCKET_TIMEOUT = 5.0
"""Seconds one socket operation may block, unless the URL says otherwise."""
CLOCK_REFRESH = 5.0
"""Seconds between two measurements of the offset to Redis time."""
CLOCK_STALE = 60.0
"""Seconds past a due refresh after which a call on an event loop's thread
measures the offset itself (the async calls refresh it without blocking)."""
CLOCK_TIMEOUT = 0.5
"""Seconds a refresh of that offset waits for Redis before it keeps the last one."""
MIN_ATTEMPT = 0.05
"""Seconds left before the deadline under which no attempt is started."""
MIN_VERSION = (7, 0)
"""Script flags (``#!lua flags=...``) need Redis 7."""
EVICTING_POLICIES = frozenset({"allkeys-lru", "allkeys-lfu", "allkeys-random"})
"""maxmemory policies that may evict any key, joblane's too. (The volatile-*
policies evict only keys with a TTL, and joblane sets none.)"""
_TIMEOUT_OPTIONS = ("socket_timeout", "socket_connect_timeout")
_TRANSIENT_ERRORS = (
    redis.exceptions.ReadOnlyError,
    redis.exceptions.TryAgainError,
    redis.exceptions.MasterDownError,
)
_FATAL_CONNECTION_ERRORS = (
    redis.exceptions.AuthenticationError,
    redis.exceptions.AuthorizationError,
)


def take_timeouts(url: str, options: dict[str, Any]) -> tuple[str, dict[str, float]]:
    """*url* without ``socket_timeout`` and ``socket_connect_timeout``, and
    those timeouts (from the URL, else from *options*, which loses them).
    Taken out because redis-py lets the URL's win over the ones joblane sets."""
    base, _, query = url.partition("?")
    pairs = parse_qsl(query, keep_blank_values=True)
    given: dict[str, object] = {k: v for k, v in pairs if k in _TIMEOUT_OPTIONS}
    if given:
        kept = [(k, v) for k, v in pairs if k not in _TIMEOUT_OPTIONS]
        url = base + (f"?{urlencode(kept)}" if kept else "")
    for name in _TIMEOUT_OPTIONS:
        value = options.pop(name, None)
        if value is not None:
            given.setdefault(name, value)
    timeouts: dict[str, float] = {}
    for name, raw in given.items():
        try:
            seconds = float(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            seconds = math.nan
        if not 0 < seconds < math.inf:
            raise ConfigurationError(f"{name} must be a number of seconds > 0, not {raw!r}")
        timeouts[name] = seconds
    return url, timeouts


def _before_sending(exc: redis.exceptions.RedisError) -> bool:
    """True if *exc* failed the connection itself, so no command went out.
    redis-py words these, and only these, "... connecting to ..." (5.0 to 8)."""
    return "connecting to" in str(exc)


class Connection:
    """A redis-py client for *url* (its own options already taken out) with
    joblane's deadline and retry rule around every operation."""

    def __init__(
        self, url: str, options: dict[str, Any], *, retry_for: float = DEFAULT_RETRY_FOR
    ) -> None:
        self.url = url
        self.display_url = redact_url(url)
        self.retry_for = retry_for
        self.backoff = ExponentialBackoff(cap=1.0, base=0.02)
        self.plain_url, timeouts = take_timeouts(url, options)
        """*url* without the timeouts (joblane sets them on each client)."""
        self.options = options
        """redis-py's own options, passed to every client."""
        self.socket_timeout = timeouts.get("socket_timeout", DEFAULT_SOCKET_TIMEOUT)
        self.connect_timeout = timeouts.get("socket_connect_timeout", self.socket_timeout)
        first = retry_for if retry_for > 0 else math.inf
        self.longest_wait = min(max(self.socket_timeout, self.connect_timeout), first)
        self.client = self._client(first)
        self.clock_client = self._client(CLOCK_TIMEOUT)
        self._lanes = threading.local()
        # Every thread's own connection, for close(); weakly held, so that a
        # thread that ends (one per request in some servers) takes it along.
        self._lane_set: weakref.WeakSet[_Lane] = weakref.WeakSet()
        self._lane_lock = threading.Lock()

    def _client(self, limit: float) -> redis.Redis:
        """A client whose socket operations block for *limit* seconds at most."""
        try:
            return redis.Redis.from_url(
                self.plain_url,
                retry=Retry(ExponentialBackoff(), 0),
                socket_timeout=min(self.socket_timeout, limit),
                socket_connect_timeout=min(self.connect_timeout, limit),
                **self.options,
            )
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(f"invalid Redis URL {self.display_url!r}: {exc}") from exc

    def call(
        self,
        operation: Callable[[redis.Redis, int], T],
        what: str = "",
        *,
        unknown: Callable[[str], BackendError] | None = None,
    ) -> T:
        """Run ``operation(client, attempt)``, retrying it while Redis is away
        (attempt 0, 1, 2, ...), returning or raising within *retry_for* seconds.
        *unknown* makes the error raised on giving up when an attempt may have
        run (see the module)."""
        tries = Tries(self, what, unknown)
        client = self.client
        while True:
            try:
                return operation(client, tries.attempt)
            except redis.exceptions.RedisError as exc:
                pause = tries.failed(exc)
            finally:
                if client is not self.client:
                    client.close()
                    client = self.client
            time.sleep(pause)
            limit = tries.next()
            if limit is not None:
                client = self._client(limit)

    def may_have_run(self, exc: redis.exceptions.RedisError, what: str) -> bool:
        """Whether the failed attempt may have run its command (see the module);
        raises BackendError for an error not worth a retry."""
        if isinstance(exc, _FATAL_CONNECTION_ERRORS):
            raise BackendError(f"Redis at {self.display_url} refused us: {exc}") from exc
        if isinstance(exc, redis.exceptions.BusyLoadingError):
            return False  # a reply: Redis is loading its data
        if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
            return not _before_sending(exc)
        if not isinstance(exc, redis.exceptions.ResponseError):
            raise BackendError(f"Redis error at {self.display_url}: {exc}") from exc
        message = str(exc)
        if isinstance(exc, redis.exceptions.OutOfMemoryError):
            raise BackendError(
                f"Redis at {self.display_url} is out of memory (maxmemory reached): "
                f"{what or 'the operation'} was refused and nothing was stored"
            ) from exc
        if isinstance(exc, _TRANSIENT_ERRORS) or message.startswith("BUSY"):
            return False  # a reply: the command was refused
        raise BackendError(f"Redis error at {self.display_url}: {message}") from exc

    def check_server(self, *, allow_eviction: bool) -> None:
        """Refuse a Redis that is too old or may evict joblane's keys; warn when
        accepted jobs would not survive a restart of Redis."""

        def read(client: redis.Redis, attempt: int) -> list[dict[str, Any]]:
            pipe = client.pipeline(transaction=False)
            pipe.info("server")
            pipe.info("memory")
            pipe.info("persistence")
            result: list[dict[str, Any]] = pipe.execute()
            return result

        server, memory, persistence = self.call(read, "reading INFO")
        version = tuple(int(n) for n in str(server.get("redis_version", "0")).split(".")[:2])
        if version < MIN_VERSION:
            raise ConfigurationError(
                f"Redis at {self.display_url} is version {server.get('redis_version')}; "
                "joblane needs Redis 7.0 or later"
            )
        policy = str(memory.get("maxmemory_policy", "noeviction"))
        if policy in EVICTING_POLICIES:
            if not allow_eviction:
                raise ConfigurationError(
                    f"Redis at {self.display_url} has maxmemory-policy {policy}, which may "
                    "evict joblane's keys and so lose jobs: set it to noeviction (CONFIG SET "
                    "maxmemory-policy noeviction), or use a Redis of its own for joblane; to "
                    "accept the risk, add allow_eviction=1 to the URL"
                )
            log.warning(
                "Redis at %s has maxmemory-policy %s: jobs may be evicted and lost "
                "(allowed by allow_eviction=1)", self.display_url, policy,
            )  # fmt: skip
        if not persistence.get("aof_enabled"):
            log.info(
                "Redis at %s has appendonly off: a restart of Redis keeps only the jobs of "
                "its last RDB snapshot, if any (appendonly yes keeps every accepted job)",
                self.display_url,
            )

    def lane(self, client: redis.Redis) -> Any:
        """The calling thread's own connection to send the scripts' calls on
        when *client* is the main client (None for a retry's client of its own).

        Why: a call through redis-py's client and pipeline (pool check-out with
        a readiness ``select``, the pipeline's set-up and reset, its
        observability hooks) costs about 40-60 us of CPU; the same commands
        written and read on a connection held by the thread, about 20 us
        (measured with redis-py 8.1 and hiredis). The connection is made from
        the pool's own settings (address, password, database, timeouts), so
        it behaves as the pool's; one made in another process (before a fork)
        is left to that process. Whoever uses it must disconnect it when a call
        fails part way, so that no reply is left unread (see loader.py).
        """
        if client is not self.client:
            return None
        lane: _Lane | None = getattr(self._lanes, "lane", None)
        if lane is None or lane.pid != os.getpid():
            pool = client.connection_pool
            lane = self._lanes.lane = _Lane(pool.connection_class(**pool.connection_kwargs))
            with self._lane_lock:
                self._lane_set.add(lane)
        return lane.conn

    def close(self) -> None:
        self.client.close()
        self.clock_client.close()
        with self._lane_lock:
            lanes = list(self._lane_set)
            self._lane_set = weakref.WeakSet()
        for lane in lanes:
            lane.conn.disconnect()


class _Lane:
    """A thread's own connection (Connection.lane). Held only by the thread's
    local storage, so that it is dropped as soon as the thread ends, and then
    closes its socket at once (redis-py's connection alone is freed later, by
    the cycle collector, with its socket unclosed)."""

    __slots__ = ("__weakref__", "conn", "pid")

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.pid = os.getpid()

    def __del__(self) -> None:
        # After a fork, the child's copy only closes its descriptor (redis-py
        # shuts a socket down only in the process that opened it).
        with contextlib.suppress(Exception):
            self.conn.disconnect()


class Tries:
    """The attempts of one call against its deadline: the rule of
    :meth:`Connection.call`, shared with the async calls (``aio.py``)."""

    __slots__ = ("attempt", "connection", "deadline", "maybe_ran", "unknown", "what")

    def __init__(
        self,
        connection: Connection,
        what: str,
        unknown: Callable[[str], BackendError] | None,
    ) -> None:
        self.connection = connection
        self.what = what
        self.unknown = unknown
        self.deadline = time.monotonic() + connection.retry_for
        self.attempt = 0
        self.maybe_ran = False

    def failed(self, exc: redis.exceptions.RedisError) -> float:
        """Attempt :attr:`attempt` failed with *exc*: the seconds to pause
        before the next one; raises the final error when none is left."""
        conn = self.connection
        try:
            self.maybe_ran = conn.may_have_run(exc, self.what) or self.maybe_ran
        except BackendError as final:
            if self.unknown and self.maybe_ran:  # an earlier attempt may have run
                raise self.unknown(str(final)) from exc
            raise
        left = self.deadline - time.monotonic()
        if left < MIN_ATTEMPT:
            what = self.what
            message = (
                f"Redis at {conn.display_url} did not answer for {conn.retry_for:g} s "
                f"(retry_for){': ' + what if what else ''}: {exc}"
            )
            raise (self.unknown if self.unknown and self.maybe_ran else BackendError)(
                message
            ) from exc
        if self.attempt == 0:
            log.warning("Redis at %s: %s; retrying for up to %g s",
                        conn.display_url, exc, conn.retry_for)  # fmt: skip
        return min(conn.backoff.compute(self.attempt), left - MIN_ATTEMPT)

    def next(self) -> float | None:
        """Count the next attempt. Returns the socket limit of a client of its
        own when less time is left than the usual client may block (a retry
        never waits past the deadline, see the module), else None."""
        self.attempt += 1
        left = self.deadline - time.monotonic()
        return max(left, MIN_ATTEMPT) if left < self.connection.longest_wait else None


class RedisClock:
    """Redis time (TIME) read through the local monotonic clock; see the module."""

    def __init__(self, connection: Connection, refresh: float = CLOCK_REFRESH) -> None:
        self._connection = connection
        self._refresh = refresh
        self._lock = threading.Lock()
        self._offset = 0.0
        self._next_sync = 0.0
        self._synced = False

    def sync(self, client: redis.Redis) -> None:
        """Measure the offset (raises redis errors; see :meth:`now` for the quiet path)."""
        before = time.monotonic()
        seconds, micros = client.time()
        self.measured(before, seconds + micros / 1e6, time.monotonic())

    def measured(self, before: float, redis_time: float, after: float) -> None:
        """Take *redis_time*, read between the monotonic times *before* and *after*."""
        self._offset = redis_time - (before + after) / 2
        self._synced = True
        self._next_sync = after + self._refresh

    def due(self) -> bool:
        """True when the offset should be measured again."""
        return time.monotonic() >= self._next_sync

    def postpone(self) -> None:
        """A measurement failed: keep the last offset, try again within a second."""
        self._next_sync = time.monotonic() + min(self._refresh, 1.0)

    def now(self) -> float:
        mono = time.monotonic()
        # On an event loop's thread the refresh is the async calls' job
        # (aio.py): a TIME round trip here would block the loop, unless no
        # async call did it for a minute (sync calls made from a coroutine).
        if (
            mono >= self._next_sync
            and (asyncio._get_running_loop() is None or mono >= self._next_sync + CLOCK_STALE)
            and self._lock.acquire(blocking=False)
        ):
            try:
                self.sync(self._connection.clock_client)
            except redis.exceptions.RedisError as exc:
                # Keep the last offset: it drifts by microseconds a minute. Try
                # again later, without holding up the caller for a retry loop.
                self._next_sync = mono + min(self._refresh, 1.0)
                if not self._synced:
                    raise BackendError(
                        f"cannot read the time of Redis at {self._connection.display_url}: {exc}"
                    ) from exc
            finally:
                self._lock.release()
        return time.monotonic() + self._offset
