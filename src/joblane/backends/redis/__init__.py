"""The Redis backend: one Redis (7.0 or later) shared by producers and workers on many machines.

::

    redis://localhost:6379/0                          TCP, database 0
    redis://:secret@redis.internal:6379/2?prefix=shop:
    rediss://user:secret@redis.example.com:6380/0     TLS
    unix:///run/redis/redis.sock?db=1

Options in the query string: ``prefix`` (default ``joblane:``), the start of
every key, so that several apps can share one database; ``retry_for``
(seconds, default 10), how long a call may take, retrying while Redis is
unreachable; ``socket_timeout`` and ``socket_connect_timeout`` (default 5),
how long one socket operation may block (see ``connection.py``);
``allow_eviction=1`` to accept an evicting maxmemory-policy. redis-py's own
options (``db``, ``health_check_interval``, ``max_connections``, ...) pass
through. Install with
``pip install joblane[redis]``.

Layout: ``keys.py`` documents every key; ``scripts/`` holds one Lua script per
atomic operation (``loader.py`` registers them); ``connection.py`` owns the
client, the deadlines and retries, the checks made at start and the clock;
``unanswered.py`` the enqueues whose reply was lost; ``watch.py`` the pub/sub
that wakes waiters; ``records.py`` the job hash; ``aio.py`` the async calls
(:class:`~joblane.backends.base.AsyncBackendOps` through ``redis.asyncio``, a
client per event loop); ``backend.py`` is the :class:`RedisBackend` facade.
Every contract method is one round trip.

Atomicity
---------
Every change of a job is one Lua script, run by Redis as one step: a job is at
every moment in exactly one place (its queue, one registry, or started under
one worker's lease). A claim takes jobs in priority order and records each as
started, with its lease, in the same step, so two workers never take the same
job. Redis Cluster is not supported: the scripts build key names from the
prefix (one server, or a primary with replicas, is the unit).

Redis does not undo a script that fails halfway, so the claim script checks
what it will write before writing anything: a queue whose keys are not sorted
sets is skipped, a job whose ``attempts`` or ``expires_at`` a script cannot
use is moved to failed, a queue entry without a job hash is taken off its
queue; each is reported to the worker's log. A claimed hash that Python
cannot decode is moved to failed under its new lease, right after the claim
(``joblane.backends.decoding``): one corrupt record costs only itself.

Reliable delivery and the recovery bound
----------------------------------------
A taken job stays in ``leases`` (scored by its lease expiry) until its worker
records the end of the attempt. A live worker renews its leases every fifth
of the lease; a worker that dies stops renewing, and another worker's reaper
(every ``RECOVERY_INTERVAL``) settles the job as ``WorkerLostError``, retried
or failed by its retry policy. So a dead worker's jobs are recovered at most
``lease_seconds + RECOVERY_INTERVAL`` after its last renewal: 5 + 1 = 6 s with
the worker's defaults (``joblane worker --lease``). Leases are taken against
Redis time, so a worker with a wrong clock presumes no one dead early.

If a claim's reply is lost (the connection dropped after Redis ran it), the
worker's next claim replays it (``claim:<worker>``) and gets those jobs back,
still leased, rather than leaving them to be recovered as lost.

Durability
----------
Redis holds the jobs in memory; what survives a restart of Redis is what its
persistence kept. With ``appendonly yes`` and ``appendfsync always`` every
accepted job survives a crash of the Redis host; with ``appendfsync
everysec`` (Redis's default for the AOF) it survives a crash or restart of
the Redis process (the AOF is written to the OS before the reply is sent,
unless a slow disk makes Redis postpone that write, for 2 s at most), and a
crash of the host may lose the last second or two. Without persistence a restart loses
every job. The backend logs the AOF setting at start.

Memory
------
Redis must not evict joblane's keys: at start, every producer and worker reads
``maxmemory-policy`` and refuses the ``allkeys-*`` policies (ConfigurationError),
unless the URL says ``allow_eviction=1`` (then it logs a warning). joblane sets
no TTL on any key, so the ``volatile-*`` policies never evict its keys, and
``noeviction`` is recommended. When Redis is out of memory, Redis refuses to
start the enqueue script (BackendError: nothing of the batch is stored); the
worker's scripts carry the ``allow-oom`` flag, so that workers go on draining
the queues. A queued no-op job takes about 240 bytes of Redis memory: its
hash (a 96-byte listpack, with its key and the database's entry) and its
entry in one of its queue's buckets, about 40 (``tests/redis/test_costs.py``
measures it over 10,000 jobs; keys.py says how the layout keeps it small).

Connection loss
---------------
Every call returns or raises within ``retry_for`` seconds, even against a
Redis that accepts connections and never answers: socket timeouts are capped
by the time left (``connection.py``). While time is left, an operation is
retried with a growing back-off while Redis is unreachable or loading its
data after a restart; then BackendError names the URL. Operations whose reply
may have been lost are repeated safely: enqueue, cancel and requeue recognise
their own earlier effect, settle and renew apply only under the lease token,
claim replays (above). An enqueue that gives up after its command may have
reached Redis raises EnqueueOutcomeUnknownError with the job ids; enqueued
again through the same backend object, the jobs are recognised
(``unanswered.py``): the retry returns the job stored by the lost call, even
one that already ran, and never stores a second. (One imprecision: a
``delete`` retried after a lost reply returns True when it finds the job
gone.) Workers keep their outcomes and record them once
Redis is back (``joblane.worker.worker``: a backend call that gave up keeps
its outcomes, and the worker carries on after a pause). Leases run on Redis
time through an outage: if Redis is away for longer than the lease, a
job that ended meanwhile may be recovered as lost (and retried) before its
worker records the end, so run with a lease longer than the outages you
expect to ride through (``joblane worker --lease``).

Time and waiting
----------------
``now()`` is Redis time (TIME), read without a round trip per call (see
``connection.py``). ``wait_for_change`` blocks on a pub/sub subscription, so an
idle worker wakes as soon as a job is enqueued (see ``watch.py``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from joblane.backends.redis.backend import RedisBackend
from joblane.backends.redis.connection import DEFAULT_RETRY_FOR
from joblane.backends.redis.keys import DEFAULT_PREFIX
from joblane.config import redact_url
from joblane.core.clock import Clock
from joblane.errors import ConfigurationError

__all__ = ["RedisBackend", "from_url", "parse_url"]

SCHEMES = ("redis", "rediss", "unix")
JOBLANE_OPTIONS = frozenset({"prefix", "retry_for", "allow_eviction"})
REDIS_OPTIONS = frozenset(
    {
        "db", "socket_timeout", "socket_connect_timeout", "socket_read_size",
        "socket_keepalive", "max_connections", "health_check_interval", "timeout",
        "client_name", "ssl_check_hostname", "ssl_cert_reqs", "ssl_ca_certs", "ssl_certfile",
        "ssl_keyfile", "ssl_min_version",
    }
)  # fmt: skip
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def parse_url(url: str) -> tuple[str, dict[str, Any]]:
    """Split a Redis URL into the URL redis-py reads (its own options kept) and
    joblane's options (``prefix``, ``retry_for``, ``allow_eviction``), checked.
    Raises ConfigurationError."""
    shown = redact_url(url)
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an unclosed [ of an IPv6 address
        raise ConfigurationError(f"invalid Redis URL {shown!r}: {exc}") from None
    if parts.scheme not in SCHEMES:
        raise ConfigurationError(
            f"not a Redis URL: {shown!r}; use redis://host:port/db, rediss://... "
            "or unix:///path/to/redis.sock"
        )
    options: dict[str, Any] = {}
    passed: list[tuple[str, str]] = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in JOBLANE_OPTIONS:
            options[name] = value
        elif name in REDIS_OPTIONS:
            passed.append((name, value))
        else:
            known = ", ".join(sorted(JOBLANE_OPTIONS | REDIS_OPTIONS))
            raise ConfigurationError(
                f"unknown option {name!r} in the Redis URL {shown!r}; known: {known}"
            )
    prefix = options.get("prefix", DEFAULT_PREFIX)
    if not prefix:
        raise ConfigurationError("the Redis key prefix must not be empty")
    try:
        retry_for = float(options.get("retry_for", DEFAULT_RETRY_FOR))
    except ValueError:
        raise ConfigurationError(f"retry_for must be a number of seconds in {shown!r}") from None
    if retry_for < 0:
        raise ConfigurationError(f"retry_for must be >= 0 seconds, not {retry_for:g}")
    eviction = str(options.get("allow_eviction", "0")).lower()
    if eviction not in _TRUE + _FALSE:
        raise ConfigurationError(f"allow_eviction must be 0 or 1, not {eviction!r}")
    redis_url = url.partition("?")[0] + (f"?{urlencode(passed)}" if passed else "")
    return redis_url, {
        "prefix": prefix,
        "retry_for": retry_for,
        "allow_eviction": eviction in _TRUE,
    }


def from_url(url: str, *, clock: Clock | None = None) -> RedisBackend:
    """Open the Redis backend that *url* names (see :func:`parse_url`)."""
    redis_url, options = parse_url(url)
    return RedisBackend(redis_url, clock=clock, display_url=redact_url(url), **options)
