"""Run a blocking call from async code without blocking the event loop.

The async producer methods (``Queue.aenqueue``, ``Job.afetch``...) build in
the caller (no I/O) and await the backend's call here, on the loop's default
thread pool. The call runs in a copy of the caller's context (contextvars), as
:func:`asyncio.to_thread` does; a cancelled await returns at once, and the call
itself finishes in its thread (each call joblane makes there is bounded).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


async def run_sync(func: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """``await run_sync(f, *args, **kwargs)``: ``f(*args, **kwargs)`` in a thread."""
    return await asyncio.to_thread(func, *args, **kwargs)
