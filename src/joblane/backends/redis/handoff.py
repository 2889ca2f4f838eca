"""Hand-off: a job reaches an idle worker with its enqueue, without a claim.

Without it, a job enqueued for an idle worker costs three trips between
processes after the enqueue's own: the change message to the worker, the
worker's claim and its reply. With it, the worker's claim that finds nothing
for an idle slot also *parks* the worker (claim.lua: its name in
``idle:<queue>`` of each of its queues until a deadline, ``parked`` says its
lease and queues), and the worker keeps a ``BLPOP`` on its own list
``inbox:<worker>`` outstanding on a connection of its own (:class:`Inbox`).
An enqueue that finds a parked worker for the job's queue (enqueue.lua
``hand_off``) leases the job to it there and then, as a claim would, ends its
parking and pushes the job (its hash, see :func:`split_entry`) to its inbox:
Redis answers the worker's BLPOP at once. One parked worker takes one job;
the next one goes to the next parked worker, or waits on its queue and wakes
the workers with a change message, as before.

What keeps it safe:

- Strict priority: a job of a lower queue is not handed to a worker one of
  whose higher queues holds a job.
- Parking lapses (``PARK_SECONDS``): a parked worker claims again at least
  every second (Worker's RECHECK), which renews it; a worker that stopped
  (killed, SIGSTOP) is not chosen after its parking lapsed.
- A handed job is leased but not begun (as a job claimed ahead): the worker
  records its start when a slot begins it. A job handed to a worker that died
  or froze before beginning it (within its parking's lapse) is given back by
  the lost-lease recovery without counting an attempt; one begun is recovered
  as any begun job whose worker died (a lost attempt). ``joblane check``
  counts a held job not begun as waiting.
- A claim ends the worker's parking and returns what its inbox still holds
  (the BLPOP's connection dropped: the entry stayed in the list).
- Stopping, the worker ends its hand-offs first (:meth:`Inbox.close` after
  the backend's ``end_handoffs`` claim): nothing is handed to it after that
  claim, and what was handed before is read up to a marker pushed behind it,
  so that the worker gives those jobs back itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time
from typing import Any

import redis

from joblane.backends.redis.connection import Connection

log = logging.getLogger("joblane.backends")

PARK_SECONDS = 3.0
"""How long a claim that found nothing parks the worker; it claims again sooner."""
CLOSE_WAIT = 2.0
"""Longest wait, when a worker stops, for the hand-offs before its marker."""
_MARK = b""
"""The entry :meth:`Inbox.close` pushes behind the last hand-off (none is empty)."""


def split_entry(entry: bytes) -> list[bytes]:
    """An inbox entry's netstrings ("<length>:<bytes>" each): the job id, its
    lease token, then its hash as HGETALL's flat list (``inbox_entry`` in
    _common.lua)."""
    parts = []
    at, end = 0, len(entry)
    while at < end:
        colon = entry.index(b":", at)
        start = colon + 1
        stop = start + int(entry[at:colon])
        if stop > end:
            raise ValueError(f"inbox entry cut short at byte {end} of {stop}")
        parts.append(entry[start:stop])
        at = stop
    return parts


class Inbox:
    """One worker's hand-off list, read by a BLPOP kept outstanding on a
    connection of its own (never the pool's: it blocks). Thread-safe."""

    def __init__(self, connection: Connection, key: str, lease_seconds: float) -> None:
        self._connection = connection
        self.key = key
        self.lease_seconds = lease_seconds
        self._conn: Any = None
        self._pid = 0
        self._waiting = False
        self._read_jobs: list[Any] = []
        """Hand-offs read and not taken: id, hash, id, hash... (as claim.lua replies)."""
        self._lock = threading.Lock()

    def arm(self) -> None:
        """Have a BLPOP outstanding (before a claim that may park the worker);
        an error leaves it unarmed: the next claim reads the list itself."""
        with self._lock:
            if self._waiting and self._pid == os.getpid():
                return
            try:
                if self._conn is None or self._pid != os.getpid():
                    pool = self._connection.client.connection_pool
                    self._conn = pool.connection_class(**pool.connection_kwargs)
                    self._pid = os.getpid()
                self._conn.send_command("BLPOP", self.key, 0, check_health=False)
                self._waiting = True
            except (redis.exceptions.RedisError, OSError) as exc:
                log.debug("hand-off inbox %s: cannot wait on it: %s", self.key, exc)
                self._drop()

    def fileno(self) -> int | None:
        """The socket to select on while the BLPOP is outstanding, else None."""
        sock = getattr(self._conn, "_sock", None) if self._waiting else None
        return None if sock is None else int(sock.fileno())

    def poll(self, timeout: float = 0.0) -> bool:
        """Read the hand-offs that arrived (waiting up to *timeout* for one);
        True if one did, or if the connection failed (a wake-up: the next claim
        reads the list itself)."""
        with self._lock:
            return self._read(timeout, until_mark=False)

    def take(self) -> list[Any]:
        """The hand-offs read so far, as claim.lua's reply lists jobs
        (id, hash, id, hash, ...), after reading what has arrived."""
        with self._lock:
            self._read(0.0, until_mark=False)
            taken, self._read_jobs = self._read_jobs, []
        return taken

    def put_back(self, taken: list[Any]) -> None:
        """Jobs :meth:`take` returned that the caller could not hand on (its
        claim failed): the next take returns them first."""
        with self._lock:
            self._read_jobs[:0] = taken

    def close(self, client: redis.Redis) -> list[Any]:
        """After the claim that ended the worker's parking: read every hand-off
        made before it (up to a marker pushed behind them), close the
        connection, and return them as :meth:`take` does."""
        with self._lock:
            if self._waiting:
                try:
                    client.rpush(self.key, _MARK)
                    if not self._read(CLOSE_WAIT, until_mark=True):
                        log.warning("hand-off inbox %s: no marker within %g s; what was "
                                    "handed is recovered when its lease lapses",
                                    self.key, CLOSE_WAIT)  # fmt: skip
                except redis.exceptions.RedisError as exc:
                    log.warning("hand-off inbox %s: %s", self.key, exc)
                with contextlib.suppress(redis.exceptions.RedisError):
                    client.lrem(self.key, 0, "")  # not popped: the BLPOP was gone
            self._drop()
            taken, self._read_jobs = self._read_jobs, []
        return taken

    def close_quietly(self) -> None:
        """Close the connection (the backend closes): what was handed and not
        read is recovered when its lease lapses."""
        with self._lock:
            self._drop()

    def _read(self, timeout: float, *, until_mark: bool) -> bool:
        """Read replies while they come (the first within *timeout*); each
        reply is one entry, after which the BLPOP is sent again (unless
        *until_mark*, which stops at the marker). True if an entry came or the
        connection failed; with *until_mark*, True once the marker came."""
        if not self._waiting:
            return False
        got = False
        deadline = time.monotonic() + timeout
        try:
            while True:
                if not self._conn.can_read(timeout=0):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return got and not until_mark
                    select.select([self._conn._sock], [], [], remaining)
                    continue
                reply = self._conn.read_response()
                self._waiting = False
                entry = reply[1]
                if entry == _MARK:
                    if until_mark:
                        return True
                else:
                    parts = split_entry(entry)  # id, lease token, hash
                    self._read_jobs += (parts[0], parts[2:])
                    got = True
                self._conn.send_command("BLPOP", self.key, 0, check_health=False)
                self._waiting = True
                if not until_mark:
                    deadline = 0.0  # read what is there, wait no more
        except (redis.exceptions.RedisError, OSError, ValueError, IndexError, TypeError) as exc:
            log.warning("hand-off inbox %s: %s; waiting again after the next claim",
                        self.key, exc)  # fmt: skip
            self._drop()
            return True

    def _drop(self) -> None:
        self._waiting = False
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.disconnect()
        self._conn = None
