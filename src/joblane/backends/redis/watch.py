"""Waking waiters when jobs may have changed: pub/sub, no polling.

Every script that changes jobs PUBLISHes on ``<prefix>changes`` (keys.py);
the message is the origin token of the backend object that ran it. Two
signals make a wait return True:

- a change made through this backend object (any thread) counts at once
  (:meth:`ChangeListener.notify`), before its message comes back;
- a message, read from a dedicated subscribed connection. A message of this
  object's own origin counts only if it is ahead of the notifications (the
  change is counted once, by whichever comes first; and a change whose reply
  was lost, so never notified, still counts).

The subscription is made on the first wait, not at connect, so producers that
never wait hold no extra connection. ``wait(0)`` reads only what has already
arrived on that socket (a ``select`` with a zero timeout, no round trip); a
longer wait blocks in ``select`` on it until a message comes or the time is
up, looking up every TURN seconds for a change another thread of this
process made through the same object. No thread is started (the worker forks
its slot processes after opening the backend); threads that wait at once take
turns on the socket.

A worker that takes hand-offs (handoff.py) adds its inbox to ``sources``: a
wait selects on the inbox's socket too, and a job handed to the worker counts
as a change.

If the subscribed connection drops, messages may have been missed: the wait
returns True (a spurious wake-up, allowed) and the next one subscribes
again. While Redis is unreachable a wait sleeps out its timeout, then
returns True, so that the caller looks at the jobs again (and meets the
error there).
"""

from __future__ import annotations

import contextlib
import select
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import redis
from redis.client import PubSub

SUBSCRIBE_TIMEOUT = 5.0
"""Seconds to wait for Redis to confirm the subscription."""
TURN = 0.05
"""Longest a waiter blocks on the socket before it looks at the counters again."""


class Source(Protocol):
    """Something else a wait watches (a worker's hand-off inbox, handoff.py)."""

    def fileno(self) -> int | None: ...

    def poll(self, timeout: float = 0.0) -> bool: ...


class ChangeListener:
    def __init__(self, client: Callable[[], redis.Redis], channel: str, origin: str) -> None:
        self.sources: dict[str, Source] = {}
        """Watched beside the messages: one that has something counts as a change."""
        self._client = client
        self._channel = channel
        self._origin = origin.encode()
        self._pubsub: PubSub | None = None
        self._socket_lock = threading.Lock()
        self._state = threading.Lock()
        self._others = 0
        self._notified = 0
        self._own = 0
        # What each waiting thread saw when its previous call returned:
        # "changed since the previous call" is per thread.
        self._seen = threading.local()
        self._closed = False

    def notify(self) -> None:
        """A change that published a message was made through this backend object."""
        with self._state:
            self._notified += 1

    def _bump(self, own: bool = False) -> None:
        with self._state:
            if own:
                self._own += 1
            else:
                self._others += 1

    def _version(self) -> int:
        with self._state:
            return self._others + max(self._notified, self._own)

    def wait(self, timeout: float) -> bool:
        """True once a change made since this thread's previous call is seen;
        False after *timeout* seconds without one (0: only check)."""
        deadline = time.monotonic() + max(timeout, 0.0)
        version = self._version()
        last: int = getattr(self._seen, "last", version)
        while True:
            remaining = deadline - time.monotonic()
            if version == last:
                self._read(min(max(remaining, 0.0), TURN))
                version = self._version()
            if version != last or remaining <= 0:
                break
        self._seen.last = version
        return version != last

    def _read(self, timeout: float) -> None:
        """Read the messages that arrive within *timeout* seconds (stop at the first)."""
        if not self._socket_lock.acquire(timeout=TURN):
            return  # another thread is reading: it bumps the version for us
        try:
            pubsub = self._subscribed()
            if pubsub is None:
                time.sleep(timeout)
                self._bump()
                return
            sources = list(self.sources.values())
            if sources:
                message = self._read_with(pubsub, sources, timeout)
            else:
                message = pubsub.get_message(timeout=timeout)
            while message is not None:
                if message.get("type") == "message":
                    self._bump(own=message.get("data") == self._origin)
                message = pubsub.get_message(timeout=0)
        except redis.exceptions.RedisError:
            self._drop()
            self._bump()  # messages may have been missed while the connection was down
        finally:
            self._socket_lock.release()

    def _read_with(
        self, pubsub: PubSub, sources: list[Source], timeout: float
    ) -> dict[str, Any] | None:
        """Wait up to *timeout* for a message or for one of *sources*; the
        first message, if one came (a source that had something is counted)."""
        had = any([source.poll() for source in sources])  # every one read, not the first
        conn = pubsub.connection
        if not had and conn is not None and not conn.can_read(timeout=0):
            fds = [fd for fd in (source.fileno() for source in sources) if fd is not None]
            # A socket closed meanwhile: the reads below find out.
            with contextlib.suppress(OSError, ValueError, TypeError):
                select.select([conn._sock, *fds], [], [], timeout)
            had = any([source.poll() for source in sources])
        if had:
            self._bump()
        return pubsub.get_message(timeout=0)  # type: ignore[no-any-return]

    def _subscribed(self) -> PubSub | None:
        if self._closed:
            return None
        if self._pubsub is None:
            pubsub = self._client().pubsub()  # type: ignore[no-untyped-call]
            try:
                pubsub.subscribe(self._channel)
                # Wait for the confirmation: until Redis has it, a change would
                # publish to no one, and the first wait must not miss it.
                deadline = time.monotonic() + SUBSCRIBE_TIMEOUT
                while True:
                    message = pubsub.get_message(timeout=max(deadline - time.monotonic(), 0))
                    if message is not None and message.get("type") == "subscribe":
                        break
                    if time.monotonic() >= deadline:
                        raise redis.exceptions.TimeoutError("no reply to SUBSCRIBE")
            except redis.exceptions.RedisError:
                pubsub.close()
                return None
            self._pubsub = pubsub
            with self._state:
                # Changes notified before now sent no message to this subscription.
                self._own = self._notified
        return self._pubsub

    def _drop(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(redis.exceptions.RedisError):
                pubsub.close()

    def close(self) -> None:
        self._closed = True
        with self._socket_lock:
            self._drop()
