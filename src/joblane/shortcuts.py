"""One queue for the whole app: ``joblane.configure(...)`` once, then
``joblane.enqueue(...)`` / ``await joblane.aenqueue(...)`` anywhere.

Functions go by reference, by dotted path, or by the short name of a function
marked with ``@job`` in this process (``"send_email"``), when exactly one such
function has that name.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from joblane.client import Job, Queue
from joblane.core.queues import DEFAULT_QUEUE
from joblane.errors import InvalidFunctionError
from joblane.tasks import registered

__all__ = ["aenqueue", "configure", "default_queue", "enqueue"]

_lock = threading.Lock()
_queue: Queue | None = None


def configure(url: str | None = None, *, queue: str = DEFAULT_QUEUE) -> Queue:
    """Set the queue :func:`enqueue` uses: *queue* on *url* (None: ``JOBLANE_URL``,
    default ``sqlite:///joblane.db``), opened now so that a bad URL or name fails
    here. Called again, it replaces it. Returns the queue."""
    global _queue
    configured = Queue(queue, url=url)
    with _lock:
        _queue = configured
    return configured


def default_queue() -> Queue:
    """The configured queue; the default queue on ``JOBLANE_URL`` if
    :func:`configure` was not called."""
    global _queue
    with _lock:
        if _queue is None:
            _queue = Queue(DEFAULT_QUEUE)
        return _queue


def enqueue(func: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> Job:
    """:meth:`Queue.enqueue` on :func:`default_queue`; *func* may be a short name."""
    return default_queue().enqueue(job_name(func), *args, **kwargs)


async def aenqueue(func: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> Job:
    """:meth:`Queue.aenqueue` on :func:`default_queue`; *func* may be a short name."""
    return await default_queue().aenqueue(job_name(func), *args, **kwargs)


def job_name(func: Callable[..., Any] | str) -> Callable[..., Any] | str:
    """*func*, with a short name (no dot) replaced by the dotted name of the one
    ``@job`` function of this process that has it; InvalidFunctionError naming
    the candidates if none or several have it."""
    if not isinstance(func, str) or "." in func or not func.isidentifier():
        return func
    found = sorted(name for name in registered() if name.rpartition(".")[2] == func)
    if len(found) == 1:
        return found[0]
    if found:
        raise InvalidFunctionError(
            f"{func!r} names several @job functions ({', '.join(found)}): give the dotted path"
        )
    raise InvalidFunctionError(
        f"no @job function named {func!r} in this process: import the module that "
        "defines it, or give the dotted path such as 'package.module.function'"
    )
