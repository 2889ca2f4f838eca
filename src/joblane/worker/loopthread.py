"""An event loop on a thread of its own, for the thread executor.

Coroutine jobs of a :class:`~joblane.worker.slots.ThreadExecutor` (and its
async lifecycle hooks) all run on this one loop, as the jobs of a slot
process share the slot's loop: what an async ``on_startup`` made there (a
connection pool) is usable by every coroutine job. Each job's thread waits
for its coroutine.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from typing import Any


class LoopThread:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=loop.run_forever, name="joblane-loop", daemon=True)
        self._loop = loop
        self._thread.start()

    def run(self, awaitable: Any) -> Any:
        """Run *awaitable* on the loop from another thread and return its value;
        the caller's context variables (``current_job()``) are seen inside."""
        assert self._loop is not None, "LoopThread.run() before start()"
        values = list(contextvars.copy_context().items())

        async def wrap() -> Any:
            for var, value in values:  # the task's own copy: nothing leaks back
                var.set(value)
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wrap(), self._loop).result()

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5.0)
        if not thread.is_alive():
            loop.close()
        self._loop = self._thread = None
