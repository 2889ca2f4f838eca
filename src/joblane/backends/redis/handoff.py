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

A slot waits itself
-------------------
With slot processes that run one job at a time, the BLPOP is not the
worker's: one idle slot keeps it (:class:`SlotInbox`), so that a handed job
goes from Redis straight to the process that runs it, and the worker learns
of it from the slot (worker/slots.py). That saves the hop through the worker
(a wake-up and the worker's own work before it writes to the slot). The
worker parks only while a slot waits (:attr:`Inbox.slot_waits`). The slot
writes the entry to the worker *before* it runs the job, so the worker
records its start and renews its lease as for any job it dispatched. A slot
killed after its BLPOP took an entry and before it said so leaves that job
leased to a worker that does not know it: its lease lapses and it is given
back without counting an attempt, as when a worker dies. To stop waiting,
the slot pushes a marker behind what its BLPOP may be taking (a connection
of its own), then reads the BLPOP's reply: the marker, or a job it runs. A
claim that finds markers in the list (pushed while no BLPOP waited) leaves
them there: they belong to the next wait. An enqueue counts the jobs it
hands to each worker (``handed``), and a claim tells how many its slots said
they took since its previous claim: if fewer, one may have been taken and not
said yet (its slot is busy), and that claim does not park the worker again.
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
from joblane.backends.redis.records import decode_job
from joblane.core.job import JobRecord

log = logging.getLogger("joblane.backends")

try:  # hiredis (joblane's redis extra) reads a slot's hand-off; redis-py's parser else
    from hiredis import Reader as _Reader
except ImportError:  # pragma: no cover - without the extra
    _Reader = None  # type: ignore[assignment, misc]

READ_SIZE = 64 * 1024
PARK_SECONDS = 3.0
"""How long a claim that found nothing parks the worker; it claims again sooner."""
CLOSE_WAIT = 2.0
"""Longest wait, when a worker stops, for the hand-offs before its marker."""
SLOT_WAIT = 5
"""Seconds a slot's BLPOP waits before Redis ends it (the worker then has it
wait again): a wait on a connection that died without a word ends in time."""
_MARK = b""
"""The entry :meth:`Inbox.close` pushes behind the last hand-off (none is empty)."""


def split_entry(entry: bytes) -> list[bytes]:
    """An inbox entry's netstrings ("<length>:<bytes>" each): the job id, its
    lease token, then its hash as HGETALL's flat list (``hand_to`` in
    enqueue.lua)."""
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


def _disconnect(conn: Any) -> None:
    """Close a connection of ours, whatever state it is in."""
    if conn is not None:
        with contextlib.suppress(Exception):
            conn.disconnect()


class SlotInbox:
    """A worker's hand-off list as one of its slot processes waits on it (see
    "A slot waits itself" above). Made in the worker before its slots fork;
    its connections are made in the slot that uses it."""

    def __init__(self, connection: Connection, key: str) -> None:
        pool = connection.client.connection_pool
        self._connection_class = pool.connection_class
        self._kwargs = dict(pool.connection_kwargs)
        self.key = key
        self.limit = SLOT_WAIT + CLOSE_WAIT
        """Longest a wait may go without any reply: Redis ends its BLPOP after
        SLOT_WAIT, so silence past this means the connection is gone."""
        self._conn: Any = None
        self._other: Any = None
        """The second connection, that pushes the marker while the first blocks."""

    def _connect(self) -> Any:
        return self._connection_class(**self._kwargs)

    def wait(self) -> int | None:
        """Send the BLPOP; the socket to select on for its reply, or None if it
        could not be sent."""
        try:
            if self._conn is None:
                self._conn = self._connect()
            self._conn.send_command("BLPOP", self.key, SLOT_WAIT, check_health=False)
            return int(self._conn._sock.fileno())
        except (redis.exceptions.RedisError, OSError) as exc:
            log.debug("hand-off inbox %s: cannot wait on it: %s", self.key, exc)
            self._drop()
            return None

    def unwait(self) -> bool:
        """Make the outstanding BLPOP return: push the marker behind it. False
        if that failed (the blocking connection is then dropped: what it may
        have taken is recovered when its lease lapses)."""
        try:
            if self._other is None:
                self._other = self._connect()
            self._other.send_command("RPUSH", self.key, _MARK)
            self._other.read_response()
            return True
        except (redis.exceptions.RedisError, OSError) as exc:
            log.warning("hand-off inbox %s: %s", self.key, exc)
            _disconnect(self._other)
            self._other = None
            self._drop()
            return False

    def read(self) -> bytes | None:
        """The BLPOP's reply: an entry, or None for the marker, the end of the
        BLPOP's own wait (SLOT_WAIT) or a failure."""
        try:
            reply = self._read_reply() if _Reader is not None else self._conn.read_response()
            if reply is None:  # its time ran out: the slot waits again if told to
                return None
            entry = reply[1]
        except (redis.exceptions.RedisError, OSError, TypeError, IndexError) as exc:
            log.warning("hand-off inbox %s: %s", self.key, exc)
            self._drop()
            return None
        return None if entry == _MARK else bytes(entry)

    def abandon(self) -> None:
        """No reply came within :attr:`limit` (a connection that died without a
        word): drop it. What it may have taken is given back when its lease
        lapses, uncounted."""
        log.warning("hand-off inbox %s: no reply within %g s; connecting anew", self.key,
                    self.limit)  # fmt: skip
        self._drop()

    def _read_reply(self) -> Any:
        """The reply read from the socket by hiredis directly: a job waits on
        it, and redis-py's layers cost more than the read itself. Nothing else
        is ever read on this connection after its handshake (RESP2: nothing
        comes unasked), so no reply is left in redis-py's buffer."""
        assert _Reader is not None
        reader = _Reader()
        sock = self._conn._sock
        while True:
            data = sock.recv(READ_SIZE)
            if not data:
                raise redis.exceptions.ConnectionError("Redis closed the connection")
            reader.feed(data)
            reply = reader.gets()
            if reply is not False:
                if isinstance(reply, Exception):
                    raise reply
                return reply

    @staticmethod
    def decode(entry: bytes) -> JobRecord:
        """The job of an inbox entry (CorruptRecordError or ValueError if it
        does not decode)."""
        parts = split_entry(entry)
        if len(parts) < 2:
            raise ValueError(f"inbox entry of {len(parts)} part(s), not an id and a lease token")
        return decode_job(parts[0], parts[2:])

    def close(self) -> None:
        self._drop()
        _disconnect(self._other)
        self._other = None

    def _drop(self) -> None:
        _disconnect(self._conn)
        self._conn = None


class Inbox:
    """One worker's hand-off list, read by a BLPOP kept outstanding on a
    connection of its own (never the pool's: it blocks). Thread-safe.

    With *by_slot*, a slot process keeps the BLPOP instead (:class:`SlotInbox`):
    this object then only says whether one does (:attr:`slot_waits`) and
    which pipe the worker's waits watch for its news (:attr:`slot_fd`)."""

    def __init__(
        self, connection: Connection, key: str, lease_seconds: float, *, by_slot: bool = False
    ) -> None:
        self._connection = connection
        self.key = key
        self.lease_seconds = lease_seconds
        self.by_slot = by_slot
        self.slot_waits = False
        """A slot waits on the list now: a claim may park the worker."""
        self.slot_fd: int | None = None
        """The waiting slot's pipe: what the slot says wakes the worker's waits."""
        self.slot_took = 0
        """How many hand-offs the worker's slots said they took, in all."""
        self._took_before = 0
        """:attr:`slot_took` at the previous claim (see :meth:`heard`)."""
        self._conn: Any = None
        self._pid = 0
        self._waiting = False
        self._read_jobs: list[Any] = []
        """Hand-offs read and not taken: id, hash, id, hash... (as claim.lua replies)."""
        self._lock = threading.Lock()

    def arm(self) -> None:
        """Have a BLPOP outstanding (before a claim that may park the worker);
        an error leaves it unarmed: the next claim reads the list itself."""
        if self.by_slot:
            return
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

    def heard(self) -> int | str:
        """For a claim: how many hand-offs the slots said they took since the
        previous claim; claim.lua does not park the worker if more were handed
        to it meanwhile (a slot took one and has not said so: it is busy). ""
        for the worker's own BLPOP (it reads every hand-off before a claim)."""
        if not self.by_slot:
            return ""
        heard, self._took_before = self.slot_took - self._took_before, self.slot_took
        return heard

    def parkable(self) -> bool:
        """Whether a hand-off would be read at once: a BLPOP waits."""
        return self.slot_waits if self.by_slot else self.fileno() is not None

    def fileno(self) -> int | None:
        """The socket to select on while the BLPOP is outstanding, else None."""
        if self.by_slot:
            return self.slot_fd
        sock = getattr(self._conn, "_sock", None) if self._waiting else None
        return None if sock is None else int(sock.fileno())

    def poll(self, timeout: float = 0.0) -> bool:
        """Read the hand-offs that arrived (waiting up to *timeout* for one);
        True if one did, or if the connection failed (a wake-up: the next claim
        reads the list itself)."""
        if self.by_slot:  # the slot's news: the executor reads it
            fd = self.slot_fd
            try:
                return fd is not None and bool(select.select([fd], [], [], timeout)[0])
            except (OSError, ValueError):  # closed meanwhile: a wake-up, the worker looks
                self.slot_fd = None
                return True
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
            if self._waiting and not self.by_slot:
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
        _disconnect(self._conn)
        self._conn = None
