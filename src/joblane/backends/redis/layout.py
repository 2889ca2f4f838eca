"""The version of the key layout under a prefix, kept in ``<prefix>version``.

=======  ==============================================================
version  layout
=======  ==============================================================
1        joblane 0.1.0: no version key
2        the job hash may hold ``la`` (lost_attempts, optional: absent
         means 0); the version key is written
3        each queue in buckets of 128 positions (``qb:<b>:<queue>``),
         listed by ``qi:<queue>``, counted in ``qcount``; a queued job's
         hash names its bucket ``b``; ``to`` absent means the default
         timeout (180.0) and "" no timeout; ``e`` may be "=" (as
         ``c``); the payload may be ``g`` (keys.py)
=======  ==============================================================

A backend that opens a prefix without any key (nothing of joblane's there)
writes the current version. One that finds another version refuses to start
(SchemaVersionError): an older layout is brought up to date by ``joblane
migrate``, a newer one needs a newer joblane. A prefix that holds joblane's
keys but no version key is of version 1. Upgrading 1 -> 2 only writes the key:
version 1 hashes read correctly as version 2 (``la`` is optional). Upgrading
2 -> 3 moves each ``queue:<queue>`` zset into buckets, chunk by chunk (each
chunk one atomic script: its entries added to their buckets, their hashes
given ``b``, then removed from the old zset), counts each queue, and writes
``to`` = "" into every job hash without ``to`` (a job without a timeout, which
layout 2 stored so); both steps skip what is done, so running it again after
an interruption completes it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import redis

from joblane.backends.redis.keys import Keys
from joblane.errors import BackendError, SchemaVersionError

LAYOUT_VERSION = 3

_FIRST_KEYS = ("queues", "seq", "workers", "leases", "scheduled", "expiry")
"""Keys that every prefix used by joblane 0.1.0 holds at least one of: an
enqueue adds its queue to ``queues``, a worker registers in ``workers``."""

_CHUNK = 1000

_MOVE_QUEUE = """
local old, prefix, q = KEYS[1], ARGV[1], ARGV[2]
local entries = redis.call("ZRANGE", old, 0, tonumber(ARGV[3]) - 1, "WITHSCORES")
for i = 1, #entries, 2 do
  local id, n = entries[i], entries[i + 1]
  local b = math.floor(tonumber(n) / 128)
  redis.call("ZADD", prefix .. "qb:" .. b .. ":" .. q, n, id)
  redis.call("ZADD", prefix .. "qi:" .. q, b, b)
  local key = prefix .. "job:" .. id
  if redis.call("TYPE", key).ok == "hash" then redis.call("HSET", key, "b", b) end
  redis.call("ZREM", old, id)
end
return #entries / 2
"""
"""Move up to ARGV[3] entries of a layout-2 queue zset into their buckets."""

_COUNT_QUEUE = """
local prefix, q = ARGV[1], ARGV[2]
local total = 0
for _, b in ipairs(redis.call("ZRANGE", prefix .. "qi:" .. q, 0, -1)) do
  total = total + redis.call("ZCARD", prefix .. "qb:" .. b .. ":" .. q)
end
if total > 0 then
  redis.call("HSET", prefix .. "qcount", q, total)
else
  redis.call("HDEL", prefix .. "qcount", q)
end
return total
"""

_NO_TIMEOUT = """
for _, key in ipairs(KEYS) do
  if redis.call("TYPE", key).ok == "hash" and redis.call("HEXISTS", key, "to") == 0 then
    redis.call("HSET", key, "to", "")
  end
end
return 0
"""
"""Layout 2 stored no ``to`` for a job without a timeout; layout 3 stores ""."""

_JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


def _glob(text: str) -> str:
    """*text* as a SCAN pattern that matches it literally."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def _queues_to_buckets(client: redis.Redis, keys: Keys) -> None:
    old_prefix = keys.prefix + "queue:"
    names = {_text(q) for q in client.smembers(keys.queues)}
    for key in client.scan_iter(match=_glob(old_prefix) + "*", count=_CHUNK):
        names.add(_text(key).removeprefix(old_prefix))
    for name in sorted(names):
        old = old_prefix + name
        if client.type(old) in (b"zset", "zset"):
            while client.eval(_MOVE_QUEUE, 1, old, keys.prefix, name, _CHUNK):
                pass
        client.eval(_COUNT_QUEUE, 0, keys.prefix, name)


def _explicit_no_timeout(client: redis.Redis, keys: Keys) -> None:
    job_prefix = keys.prefix + "job:"
    chunk: list[str] = []
    for raw in client.scan_iter(match=_glob(job_prefix) + "*", count=_CHUNK):
        key = _text(raw)
        if _JOB_ID.fullmatch(key.removeprefix(job_prefix)):  # not a key of a longer prefix
            chunk.append(key)
        if len(chunk) >= _CHUNK:
            client.eval(_NO_TIMEOUT, len(chunk), *chunk)
            chunk = []
    if chunk:
        client.eval(_NO_TIMEOUT, len(chunk), *chunk)


def _to_layout_3(client: redis.Redis, keys: Keys) -> None:
    _queues_to_buckets(client, keys)
    _explicit_no_timeout(client, keys)


UPGRADES: Mapping[int, Callable[[redis.Redis, Keys], None]] = {
    2: lambda client, keys: None,  # `la` is optional: nothing to rewrite
    3: _to_layout_3,
}
"""version -> what brings a layout of version - 1 to it, besides writing the key."""


def read_version(client: redis.Redis, keys: Keys) -> int:
    """The layout version under the prefix: 0 when it holds no joblane key."""
    pipe = client.pipeline(transaction=False)
    pipe.get(keys.version)
    pipe.exists(*(keys.prefix + name for name in _FIRST_KEYS))
    raw, existing = pipe.execute()
    if raw is None:
        return 1 if existing else 0
    try:
        return int(raw)
    except ValueError:
        raise BackendError(
            f"the Redis key {keys.version} holds {raw!r}, not a layout version"
        ) from None


def check_layout(client: redis.Redis, keys: Keys, where: str) -> None:
    """Write the current version under an empty prefix; SchemaVersionError if the
    prefix holds another version."""
    version = read_version(client, keys)
    if version == 0 and client.set(keys.version, LAYOUT_VERSION, nx=True):
        return
    if version == 0:  # another process wrote it first
        version = read_version(client, keys)
    if version != LAYOUT_VERSION:
        raise SchemaVersionError(f"{where} (key prefix {keys.prefix!r})", version, LAYOUT_VERSION)


def migrate_layout(client: redis.Redis, keys: Keys, where: str, *, apply: bool) -> list[str]:
    """Bring the layout to the current version (*apply*) or say what that would do:
    one line per step. Each step is idempotent, and the version key is written
    after it, so an interrupted migration is completed by running it again."""
    version = read_version(client, keys)
    if version > LAYOUT_VERSION:
        raise SchemaVersionError(f"{where} (key prefix {keys.prefix!r})", version, LAYOUT_VERSION)
    if version == 0:
        return []  # nothing there: the first backend to open it writes the version
    steps = []
    for step in range(version + 1, LAYOUT_VERSION + 1):
        if apply:
            UPGRADES[step](client, keys)
            client.set(keys.version, step)
        shown = f"Redis {where} (key prefix {keys.prefix!r})"
        steps.append(f"{shown}: layout version {step - 1} -> {step}")
    return steps


def migrate_url(url: str, *, apply: bool = True) -> list[str]:
    """:func:`migrate_layout` for the Redis *url*."""
    from joblane.backends.redis import parse_url
    from joblane.backends.redis.connection import Connection

    redis_url, options = parse_url(url)
    conn = Connection(redis_url, {}, retry_for=options["retry_for"])
    keys = Keys(options["prefix"])
    try:
        return conn.call(
            lambda client, attempt: migrate_layout(client, keys, conn.display_url, apply=apply),
            "migrating the key layout",
        )
    finally:
        conn.close()
