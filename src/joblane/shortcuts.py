"""One queue for the whole app: ``joblane.configure(...)`` once, then
``joblane.enqueue(...)`` / ``await joblane.aenqueue(...)`` anywhere.

Functions go by reference, by dotted path, or by a short name: a task the
worker's settings list (``joblane.configure(settings=...)`` loads them here too,
so a misspelt name fails at enqueue), or the one ``@job`` function of this
process with that name (see :mod:`joblane.tasks`, "Task names").
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from joblane.client import Job, Queue
from joblane.core.queues import DEFAULT_QUEUE
from joblane.settings import load, load_object
from joblane.tasks import register

__all__ = ["aenqueue", "configure", "default_queue", "enqueue"]

_lock = threading.Lock()
_queue: Queue | None = None


def configure(
    url: str | None = None,
    *,
    queue: str = DEFAULT_QUEUE,
    settings: str | object | None = None,
    tasks: Sequence[Callable[..., Any]] = (),
) -> Queue:
    """Set the queue :func:`enqueue` uses: *queue* on *url* (None: ``JOBLANE_URL``,
    default ``sqlite:///joblane.db``), opened now so that a bad URL or name fails
    here. Called again, it replaces it. Returns the queue.

    *settings* (the worker's settings object, or its ``package.module:Name``)
    and *tasks* (functions) register the worker's task names in this process:
    enqueue by a short name then fails at once for a name not among them, and
    jobs carry the settings' defaults (``job_timeout``, ``max_tries``...)."""
    global _queue
    if settings is not None:
        load(settings) if isinstance(settings, str) else load_object(settings)
    for function in tasks:
        register(function)
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
    return default_queue().enqueue(func, *args, **kwargs)


async def aenqueue(func: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> Job:
    """:meth:`Queue.aenqueue` on :func:`default_queue`; *func* may be a short name."""
    return await default_queue().aenqueue(func, *args, **kwargs)
