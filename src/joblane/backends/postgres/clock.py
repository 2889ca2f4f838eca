"""The database's clock, as every process of a deployment reads it."""

from __future__ import annotations

import threading
import time

from joblane.backends.postgres.database import Connection, Database
from joblane.errors import BackendError

CLOCK_REFRESH = 60.0
"""Seconds between two readings of the database clock (its offset from the
local monotonic clock drifts by microseconds a minute)."""


class DatabaseClock:
    """The database's clock (``clock_timestamp()``), read through the local
    monotonic clock: measured at start and every CLOCK_REFRESH seconds, so that
    ``now()`` costs no round trip. Every process of a deployment takes leases
    and due times against the same clock, whatever the clocks of its hosts."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._offset = 0.0
        self._next = 0.0

    def sync(self) -> None:
        def read(conn: Connection) -> tuple[float, float, float]:
            before = time.monotonic()
            row = conn.execute(self._db.sql.queries.clock).fetchone()
            assert row is not None
            return before, float(row[0]), time.monotonic()

        before, db_time, after = self._db.run(read, "reading the clock")
        self._offset = db_time - (before + after) / 2
        self._next = after + CLOCK_REFRESH

    def now(self) -> float:
        mono = time.monotonic()
        if mono >= self._next and self._lock.acquire(blocking=False):
            try:
                self.sync()
            except BackendError:
                self._next = mono + 1.0  # keep the last offset; try again soon
            finally:
                self._lock.release()
        return time.monotonic() + self._offset
