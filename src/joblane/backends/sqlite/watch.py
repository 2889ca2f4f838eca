"""Waking waiters when jobs may have changed.

Two signals, either of which makes a wait return True:

- a commit made through this backend object (any thread) notifies a Condition
  at once;
- a commit made anywhere else (another object, another process) changes
  ``PRAGMA data_version`` of a connection that never writes. The waiter polls
  it about every millisecond: the pragma only reads the WAL index in shared
  memory, no disk I/O, so an idle worker sees a producer's commit within 1-2 ms
  for a few percent of one core.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

POLL_INTERVAL = 0.001
"""Seconds between two reads of ``PRAGMA data_version`` while waiting."""


class ChangeWatcher:
    def __init__(self, data_version: Callable[[], int]) -> None:
        self._data_version = data_version
        self._changed = threading.Condition()
        self._version = 0
        # What each waiting thread saw when its previous call returned:
        # "changed since the previous call" is per thread, so one waiter
        # cannot consume the change another one is waiting for.
        self._seen = threading.local()

    def notify(self) -> None:
        """A commit was made through this backend object."""
        with self._changed:
            self._version += 1
            self._changed.notify_all()

    def wait(self, timeout: float) -> bool:
        """True once a commit made since this thread's previous call is seen;
        False after *timeout* seconds without one (0: only check)."""
        deadline = time.monotonic() + max(timeout, 0.0)
        with self._changed:
            version = self._version
        now_seen = (version, self._data_version())
        last: tuple[int, int] = getattr(self._seen, "last", now_seen)
        while now_seen == last:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            with self._changed:
                if self._version == last[0]:
                    self._changed.wait(min(POLL_INTERVAL, remaining))
                version = self._version
            now_seen = (version, self._data_version())
        # Values read before a commit that lands after this point make the next
        # call return True at once: a spurious wake-up at worst, never a miss.
        self._seen.last = now_seen
        return now_seen != last
