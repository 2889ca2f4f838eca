"""Where a verifier remembers the nonces it has accepted, until they expire.

A signed request is valid for ``window`` seconds either side of its time, so a
verifier keeps each accepted nonce for twice the window; one seen again in that
time is a replay. Every store answers one atomic question, :meth:`ReplayStore.first_seen`.

* :class:`MemoryReplayStore`: a dict in this process. Right for one app
  process; with several (gunicorn workers, several hosts) a request replayed
  to another process is not caught.
* :class:`SQLiteReplayStore`: a table in an SQLite file, shared by the app's
  processes on one host (one small write per task request).
* :class:`RedisReplayStore`: ``SET key 1 NX PXAT expiry`` on a Redis server,
  shared by every process on every host; one round-trip per task request, and
  task requests fail (401) while Redis is down, rather than let a replay in.

:func:`replay_store` picks one by URL: ``memory://``, ``sqlite:///path``,
``redis://...`` (``JOBLANE_HTTP_REPLAY_URL``; default ``memory://``).
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any, Protocol
from urllib.parse import urlsplit

from joblane.errors import ConfigurationError

KEY_PREFIX = "joblane:http:nonce:"


class ReplayStore(Protocol):
    def first_seen(self, key: str, now: float, expires: float) -> bool:
        """Record *key* until *expires* (POSIX seconds) and return True, or
        return False if it is recorded already and not expired: atomically."""
        ...


class MemoryReplayStore:
    """Nonces in a dict of this process (see the module docstring)."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self._next_purge = 0.0

    def first_seen(self, key: str, now: float, expires: float) -> bool:
        with self._lock:
            if now >= self._next_purge:
                self._seen = {k: t for k, t in self._seen.items() if t > now}
                self._next_purge = now + 60
            until = self._seen.get(key)
            if until is not None and until > now:
                return False
            self._seen[key] = expires
            return True


class SQLiteReplayStore:
    """Nonces in a table of an SQLite file, shared by processes on one host."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS joblane_http_nonce "
                "(key TEXT PRIMARY KEY, expires REAL NOT NULL)"
            )

    def _connect(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            self._local.db = db
        return db

    def first_seen(self, key: str, now: float, expires: float) -> bool:
        db = self._connect()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DELETE FROM joblane_http_nonce WHERE expires <= ?", (now,))
            inserted = db.execute(
                "INSERT OR IGNORE INTO joblane_http_nonce (key, expires) VALUES (?, ?)",
                (key, expires),
            ).rowcount
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return inserted == 1


class RedisReplayStore:
    """Nonces as Redis keys that expire (``SET NX PXAT``)."""

    def __init__(self, url: str) -> None:
        import redis  # the redis extra

        self.client: Any = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)

    def first_seen(self, key: str, now: float, expires: float) -> bool:
        return bool(self.client.set(KEY_PREFIX + key, b"1", nx=True, pxat=int(expires * 1000)))


def replay_store(url: str | None) -> ReplayStore:
    """The store a URL names (see the module docstring); ConfigurationError otherwise."""
    if url is None or url in ("", "memory://"):
        return MemoryReplayStore()
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        path = url.removeprefix("sqlite:///")
        if not path or path == url:
            raise ConfigurationError(f"replay store URL {url!r}: use sqlite:///path/to/file")
        return SQLiteReplayStore(path)
    if scheme in ("redis", "rediss", "unix"):
        return RedisReplayStore(url)
    raise ConfigurationError(
        f"replay store URL {url!r}: use memory://, sqlite:///path or redis://host:port/db"
    )
