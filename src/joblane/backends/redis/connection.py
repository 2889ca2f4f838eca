"""One Redis server: the client, bounded retries, the checks made at start, and its clock.

Retries
-------
The redis-py client is made with its own retries off; :meth:`Connection.call`
retries instead, because only the caller knows how to repeat an operation
whose reply was lost (the script may have run): each attempt is told its
number, and enqueue, claim, cancel and requeue pass "retrying" to their
scripts, which recognise their own earlier effect (see the scripts). A lost
connection, a timeout, and Redis answering BUSY, LOADING (restarting with its
data), READONLY or MASTERDOWN are retried with an exponential back-off
(redis-py's ``ExponentialBackoff``: 20 ms doubling up to 1 s) for at most
*retry_for* seconds in all, then BackendError names the URL (without its
password) and the last error. A refused password and every other error
raise at once; an out-of-memory refusal raises BackendError saying so.

Time
----
Every machine takes its time from Redis (the TIME command), not from its own
clock: :class:`RedisClock` measures the offset between Redis time and the
local monotonic clock at connect (half a round trip of error at most) and
again every CLOCK_REFRESH seconds, and ``now()`` is the monotonic clock plus
that offset: no round trip per call, and a machine whose wall clock is off by
minutes agrees with the others to within a millisecond or so.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from joblane.config import redact_url
from joblane.errors import BackendError, ConfigurationError

log = logging.getLogger("joblane.redis")

T = TypeVar("T")

DEFAULT_RETRY_FOR = 10.0
"""Seconds an operation is retried while Redis is unreachable, then BackendError."""
CLOCK_REFRESH = 5.0
"""Seconds between two measurements of the offset to Redis time."""
MIN_VERSION = (7, 0)
"""Script flags (``#!lua flags=...``) need Redis 7."""
EVICTING_POLICIES = frozenset({"allkeys-lru", "allkeys-lfu", "allkeys-random"})
"""maxmemory policies that may evict any key, joblane's too. (The volatile-*
policies evict only keys with a TTL, and joblane sets none.)"""
_TRANSIENT_ERRORS = (
    redis.exceptions.ReadOnlyError,
    redis.exceptions.TryAgainError,
    redis.exceptions.MasterDownError,
)
_FATAL_CONNECTION_ERRORS = (
    redis.exceptions.AuthenticationError,
    redis.exceptions.AuthorizationError,
)


class Connection:
    """A redis-py client for *url* (its own options already taken out) with
    joblane's retry rule around every operation."""

    def __init__(
        self, url: str, options: dict[str, Any], *, retry_for: float = DEFAULT_RETRY_FOR
    ) -> None:
        self.url = url
        self.display_url = redact_url(url)
        self.retry_for = retry_for
        self._backoff = ExponentialBackoff(cap=1.0, base=0.02)
        try:
            self.client: redis.Redis = redis.Redis.from_url(
                url, retry=Retry(ExponentialBackoff(), 0), **options
            )
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(f"invalid Redis URL {self.display_url!r}: {exc}") from exc

    def call(self, operation: Callable[[redis.Redis, int], T], what: str = "") -> T:
        """Run ``operation(client, attempt)``, retrying it while Redis is away
        (attempt 0, 1, 2, ...), for at most *retry_for* seconds."""
        deadline: float | None = None
        attempt = 0
        while True:
            try:
                return operation(self.client, attempt)
            except _FATAL_CONNECTION_ERRORS as exc:
                raise BackendError(f"Redis at {self.display_url} refused us: {exc}") from exc
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
                error: Exception = exc
            except redis.exceptions.ResponseError as exc:
                message = str(exc)
                if isinstance(exc, redis.exceptions.OutOfMemoryError):
                    raise BackendError(
                        f"Redis at {self.display_url} is out of memory (maxmemory reached): "
                        f"{what or 'the operation'} was refused and nothing was stored"
                    ) from exc
                transient = isinstance(exc, _TRANSIENT_ERRORS) or message.startswith("BUSY")
                if not transient:
                    raise BackendError(f"Redis error at {self.display_url}: {message}") from exc
                error = exc
            except redis.exceptions.RedisError as exc:
                raise BackendError(f"Redis error at {self.display_url}: {exc}") from exc
            now = time.monotonic()
            if deadline is None:
                deadline = now + self.retry_for
            if now >= deadline:
                raise BackendError(
                    f"Redis at {self.display_url} did not answer for {self.retry_for:g} s "
                    f"(retry_for){': ' + what if what else ''}: {error}"
                ) from error
            if attempt == 0:
                log.warning("Redis at %s: %s; retrying for up to %g s",
                            self.display_url, error, self.retry_for)  # fmt: skip
            time.sleep(min(self._backoff.compute(attempt), deadline - now))
            attempt += 1

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

    def close(self) -> None:
        self.client.close()


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
        after = time.monotonic()
        self._offset = seconds + micros / 1e6 - (before + after) / 2
        self._synced = True
        self._next_sync = after + self._refresh

    def now(self) -> float:
        mono = time.monotonic()
        if mono >= self._next_sync and self._lock.acquire(blocking=False):
            try:
                self.sync(self._connection.client)
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
