"""Waking waiters when jobs may have changed.

Two signals, either of which makes a wait return True:

- a commit made through this backend object (any thread) notifies a Condition
  at once;
- a commit made anywhere else (another object, another process) changes
  ``PRAGMA data_version`` of a connection that never writes. That pragma is the
  only judge of "changed": it reads the WAL index in shared memory, no disk I/O.

How often the pragma is read decides both the idle cost and the wake-up
latency. Each read costs little; the wake-up of the waiting thread around it is
what costs (about 5 % of a core at one read a millisecond). So:

- on Linux, a daemon thread blocks on an inotify watch of the ``-wal`` file
  (every commit writes to it) and pokes the waiters: they read the pragma at
  once, then every ``POKE_POLL`` seconds for ``POKE_FAST_FOR`` seconds, then
  after 1, 2, 4 ... ms up to ``BACKSTOP_POLL`` seconds. The commit's index
  update lands after its last write *and after its fsync* (a millisecond or a
  few on a shared disk), which no event marks: reads that doubled from the
  event on found it up to about the fsync's time late (2-3 ms where a 1 ms poll
  took 1-2); fine reads for the usual fsync's time find it within
  ``POKE_POLL``. An idle worker costs next to nothing and still wakes within
  about a millisecond, and its own periodic writes (its registration) cost a
  few dozen reads each;
- elsewhere, or where inotify cannot be had, reads back off from every
  millisecond to every ``IDLE_POLL`` seconds after ``FAST_FOR`` seconds with no
  change: wake-up within ``IDLE_POLL`` for a lower cost.

A poke only wakes waiters; it never counts as a change by itself, so a missed or
spurious event changes latency or cost, never the answer.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import struct
import sys
import threading
import time
from collections.abc import Callable

POLL_INTERVAL = 0.001
"""Seconds between two reads of ``PRAGMA data_version`` just after a change."""
FAST_FOR = 2.0
"""Seconds after the last change (or poke) during which reads stay that fast."""
IDLE_POLL = 0.005
"""Seconds between two reads once idle, without inotify."""
BACKSTOP_POLL = 0.25
"""Seconds between two reads once idle, with inotify (a safety net only)."""
POKE_POLL = 0.0005
"""Seconds between two reads just after an inotify event (the commit's fsync
is under way: see the module docstring)."""
POKE_FAST_FOR = 0.015
"""Seconds after an inotify event during which reads stay ``POKE_POLL`` apart."""

_IN_MODIFY = 0x00000002
_IN_IGNORED = 0x00008000
_IN_CLOEXEC = 0o2000000
_EVENT = struct.Struct("iIII")


class _WalWatch:
    """A daemon thread blocked on an inotify watch of *path*, calling *poke*
    on every change to the file. Linux only; ``start`` returns None elsewhere
    or on any failure (the caller then polls)."""

    def __init__(
        self, fd: int, wd: int, inode: int, libc: ctypes.CDLL, poke: Callable[[], None]
    ) -> None:
        self.inode = inode
        self._fd = fd
        self._wd = wd
        self._libc = libc
        self._poke = poke
        self.alive = True
        self._fd_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="joblane-wal-watch", daemon=True)
        self._thread.start()

    @classmethod
    def start(cls, path: str, poke: Callable[[], None]) -> _WalWatch | None:
        if not sys.platform.startswith("linux") or not os.path.exists(path):
            return None  # tried again a second later (the file may come)
        try:
            inode = os.stat(path).st_ino
            libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
            fd = libc.inotify_init1(_IN_CLOEXEC)
            if fd < 0:
                return None
            wd = libc.inotify_add_watch(fd, os.fsencode(path), _IN_MODIFY)
            if wd < 0:
                os.close(fd)
                return None
        except (OSError, AttributeError):
            return None
        return cls(fd, wd, inode, libc, poke)

    def _run(self) -> None:
        try:
            while True:
                data = os.read(self._fd, 4096)
                gone = False
                for offset in _offsets(data):
                    gone = gone or bool(_EVENT.unpack_from(data, offset)[1] & _IN_IGNORED)
                self._poke()
                if gone:  # file removed or the watch stopped
                    return
        except OSError:
            return
        finally:
            with self._fd_lock:  # stop() never touches a closed (reused) descriptor
                self.alive = False
                with contextlib.suppress(OSError):
                    os.close(self._fd)

    def forget(self) -> None:
        """In a forked child: close the inherited descriptor (no thread reads it
        here; removing the watch would remove the parent's)."""
        with contextlib.suppress(OSError):
            os.close(self._fd)

    def stop(self) -> None:
        """Remove the watch: the thread reads IN_IGNORED and ends."""
        with self._fd_lock:
            if self.alive:
                self._libc.inotify_rm_watch(self._fd, self._wd)


def _offsets(data: bytes) -> list[int]:
    offsets = []
    offset = 0
    while offset + _EVENT.size <= len(data):
        offsets.append(offset)
        offset += _EVENT.size + _EVENT.unpack_from(data, offset)[3]
    return offsets


class ChangeWatcher:
    def __init__(self, data_version: Callable[[], int], wal_path: str | None = None) -> None:
        self._data_version = data_version
        self._wal_path = wal_path
        self._changed = threading.Condition()
        self._version = 0
        self._pokes = 0
        self._active_until = 0.0
        self._after_poke = BACKSTOP_POLL
        self._fast_until = 0.0
        self._start_lock = threading.Lock()
        self._wal_watch: _WalWatch | None = None
        self._wal_watch_tried = 0.0
        self._closed = False
        # What each waiting thread saw when its previous call returned:
        # "changed since the previous call" is per thread, so one waiter
        # cannot consume the change another one is waiting for.
        self._seen = threading.local()

    def notify(self) -> None:
        """A commit was made through this backend object."""
        with self._changed:
            self._version += 1
            self._changed.notify_all()

    def poke(self) -> None:
        """The database file may have changed: waiters read the pragma again now."""
        with self._changed:
            self._pokes += 1
            self._after_poke = POLL_INTERVAL
            self._fast_until = time.monotonic() + POKE_FAST_FOR
            self._changed.notify_all()

    @property
    def inotify(self) -> bool:
        """True while the ``-wal`` file is watched by inotify."""
        return self._wal_watch is not None and self._wal_watch.alive

    def close(self) -> None:
        with self._changed:
            self._closed = True
            watch, self._wal_watch = self._wal_watch, None
        if watch is not None:
            watch.stop()

    def forget_after_fork(self) -> None:
        """In a forked child, before this watcher is replaced."""
        watch, self._wal_watch = self._wal_watch, None
        if watch is not None:
            watch.forget()

    def _interval(self, now: float) -> float:
        if self.inotify:
            if now < self._fast_until:
                return POKE_POLL
            interval = self._after_poke
            self._after_poke = min(2 * interval, BACKSTOP_POLL)
            return interval
        return POLL_INTERVAL if now < self._active_until else IDLE_POLL

    def _ensure_wal_watch(self, now: float) -> None:
        # Called after a read of the pragma, so the -wal file exists if it can.
        # Once a second: start a watch, or replace one whose file was replaced.
        if self._wal_path is None or self._closed or now - self._wal_watch_tried < 1.0:
            return
        if not self._start_lock.acquire(blocking=False):
            return
        try:
            self._wal_watch_tried = now
            if self.inotify:
                assert self._wal_watch is not None
                try:
                    if os.stat(self._wal_path).st_ino == self._wal_watch.inode:
                        return
                except OSError:
                    pass
                self._wal_watch.stop()
                self._wal_watch = None
            watch = _WalWatch.start(self._wal_path, self.poke)
            with self._changed:
                stale = watch if self._closed else None
                self._wal_watch = None if self._closed else watch
            if stale is not None:
                stale.stop()
        finally:
            self._start_lock.release()

    def wait(self, timeout: float) -> bool:
        """True once a commit made since this thread's previous call is seen;
        False after *timeout* seconds without one (0: only check)."""
        deadline = time.monotonic() + max(timeout, 0.0)
        with self._changed:
            version, pokes = self._version, self._pokes
        now_seen = (version, self._data_version())
        last: tuple[int, int] = getattr(self._seen, "last", now_seen)
        while now_seen == last:
            now = time.monotonic()
            remaining = deadline - now
            if remaining <= 0:
                break
            self._ensure_wal_watch(now)
            with self._changed:
                # A poke counted after the pragma was read means: read it again.
                if self._version == last[0] and self._pokes == pokes:
                    self._changed.wait(min(self._interval(now), remaining))
                version, pokes = self._version, self._pokes
            now_seen = (version, self._data_version())
        if now_seen != last:
            self._active_until = time.monotonic() + FAST_FOR
        # Values read before a commit that lands after this point make the next
        # call return True at once: a spurious wake-up at worst, never a miss.
        self._seen.last = now_seen
        return now_seen != last
