"""What the async sides of the Redis and PostgreSQL backends share: a state per
event loop (and per process), closed with its loop, and a listener that turns
the backend's change messages into futures for waiters.

An asyncio connection belongs to the loop that opened it, and to the process:
:class:`PerLoop` keeps one state per running loop in a weak dictionary (a
state whose loop is gone goes with it), makes a new one after ``os.fork()``,
and closes each state when its loop shuts down (an async generator the loop
finalises) or, from any thread, on :meth:`PerLoop.close` (on its own loop).

:class:`Wakeups` is the waiting half of a change listener: the backend
subclass starts a reader task that calls :meth:`Wakeups.wake` on each change;
waiters await the future :meth:`Wakeups.watch` returns. A reader that stops
wakes everyone (a change may have been missed), and the next watch starts a
new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Generic, TypeVar


class LoopState:
    """What one loop holds; a backend's subclass adds its connections and
    closes them in :meth:`release`."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.closed = False
        self._closer: AsyncIterator[None] | None = None

    async def hold(self) -> None:
        """Start the generator that closes this state when the loop shuts down."""

        async def closer() -> AsyncIterator[None]:
            try:
                yield
            finally:
                await self.aclose()

        self._closer = closer()
        await anext(self._closer)

    async def aclose(self) -> None:
        if self.closed:
            return
        self.closed = True
        await self.release()

    async def release(self) -> None:
        """Close what this state holds (once)."""


S = TypeVar("S", bound=LoopState)


class PerLoop(Generic[S]):
    """One :class:`LoopState` per running event loop and process."""

    def __init__(self) -> None:
        self._states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, S] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    def new_state(self) -> S:
        """A state for the running loop (not yet held)."""
        raise NotImplementedError

    async def state(self) -> S:
        """The running loop's state, made on first use."""
        loop = asyncio.get_running_loop()
        state = self._states.get(loop)
        if state is not None and not state.closed and state.pid == os.getpid():
            return state
        state = self.new_state()
        await state.hold()
        with self._lock:
            self._states[loop] = state
        return state

    async def aclose(self) -> None:
        """Close the running loop's state."""
        with self._lock:
            state = self._states.pop(asyncio.get_running_loop(), None)
        if state is not None:
            await state.aclose()

    def close(self) -> None:
        """Close every loop's state, each on its own loop (soon, if that loop is
        not running now; at its shutdown at the latest)."""
        with self._lock:
            states = list(self._states.items())
            self._states.clear()
        for loop, state in states:
            if state.pid != os.getpid() or loop.is_closed():
                continue
            with contextlib.suppress(RuntimeError):  # closed meanwhile
                loop.call_soon_threadsafe(_close_soon, loop, state)


_closing: set[asyncio.Task[None]] = set()


def _close_soon(loop: asyncio.AbstractEventLoop, state: LoopState) -> None:
    task = loop.create_task(state.aclose())
    _closing.add(task)
    task.add_done_callback(_closing.discard)


class Wakeups:
    """Futures completed by the next change, fed by a reader task."""

    def __init__(self) -> None:
        self._reader: asyncio.Task[None] | None = None
        self._next: asyncio.Future[None] | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    async def watch_after(
        self, start: Callable[[], Awaitable[bool]]
    ) -> asyncio.Future[None] | None:
        """A future completed by the next change, *start* (which starts the
        reader with :meth:`read_with`, and says whether it could) awaited first
        if no reader runs; None if it could not start one."""
        if self._reader is None or self._reader.done():
            async with self._lock:
                idle = self._reader is None or self._reader.done()
                if idle and (self._closed or not await start()):
                    return None
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
        return self._next

    def read_with(self, reader: Awaitable[None]) -> None:
        """Run *reader* (which calls :meth:`wake` on each change) as the reader task."""

        async def run() -> None:
            try:
                await reader
            finally:
                self.wake()  # changes may have been missed: a spurious wake-up

        self._reader = asyncio.get_running_loop().create_task(run())

    def wake(self) -> None:
        future, self._next = self._next, None
        if future is not None and not future.done():
            future.set_result(None)

    async def aclose(self) -> None:
        self._closed = True
        reader, self._reader = self._reader, None
        if reader is not None and not reader.done():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        self.wake()
