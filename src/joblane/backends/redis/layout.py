"""The version of the key layout under a prefix, kept in ``<prefix>version``.

=======  ==============================================================
version  layout
=======  ==============================================================
1        joblane 0.1.0: no version key
2        the job hash may hold ``la`` (lost_attempts, optional: absent
         means 0); the version key is written
=======  ==============================================================

A backend that opens a prefix without any key (nothing of joblane's there)
writes the current version. One that finds another version refuses to start
(SchemaVersionError): an older layout is brought up to date by ``joblane
migrate``, a newer one needs a newer joblane. A prefix that holds joblane's
keys but no version key is of version 1. Upgrading 1 -> 2 only writes the key:
version 1 hashes read correctly as version 2 (``la`` is optional).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import redis

from joblane.backends.redis.keys import Keys
from joblane.errors import BackendError, SchemaVersionError

LAYOUT_VERSION = 2

_FIRST_KEYS = ("queues", "seq", "workers", "leases", "scheduled", "expiry")
"""Keys that every prefix used by joblane 0.1.0 holds at least one of: an
enqueue adds its queue to ``queues``, a worker registers in ``workers``."""

UPGRADES: Mapping[int, Callable[[redis.Redis, Keys], None]] = {
    2: lambda client, keys: None,  # `la` is optional: nothing to rewrite
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
