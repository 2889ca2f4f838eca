"""A worker's lifecycle hooks: what runs in each slot around its jobs.

Four optional callables, each called with a context dict, sync or async (an
awaitable it returns is awaited on the slot's event loop)::

    on_startup(ctx)     once in each slot process, before it takes a job
    on_job_start(ctx)   before each job, with that job's ctx
    on_job_end(ctx)     after each job (whatever its outcome), with that job's ctx
    on_shutdown(ctx)    once, when the slot exits normally (the worker's drain)

*ctx* starts as an empty dict per slot; what ``on_startup`` puts there (a
database pool, an HTTP client) is in every job's ctx of that slot, each job's
ctx being ``{**slot_ctx, "job_id": ..., "job_try": ..., "enqueue_time": ...,
"queue": ...}`` as arq builds it.

They run where the jobs run (the slot processes), unlike the worker's
``on_success`` / ``on_failure`` callbacks (:mod:`joblane.worker.hooks`),
which run in the worker's own process once an attempt's end is decided.

Failures: ``on_startup`` raising stops the worker (its ``run()`` raises
:class:`~joblane.errors.WorkerStartupError` naming the hook and the error,
the CLI exits with status 1) rather than start slots that cannot serve;
``on_job_start`` raising fails that attempt (by the job's retry policy)
without running the job; ``on_job_end`` and ``on_shutdown`` raising are
logged and change nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("joblane.worker.lifecycle")

Hook = Callable[[dict[str, Any]], Any]
STARTUP_TIMEOUT = 60.0
"""Seconds a slot's ``on_startup`` may take before the worker gives up on it."""
SHUTDOWN_TIMEOUT = 10.0
"""Seconds a slot's ``on_shutdown`` may take at the worker's exit before the
slot is killed."""


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """The four hooks (see the module docstring); each None or a callable ``(ctx)``."""

    on_startup: Hook | None = None
    on_shutdown: Hook | None = None
    on_job_start: Hook | None = None
    on_job_end: Hook | None = None

    def __post_init__(self) -> None:
        for name in ("on_startup", "on_shutdown", "on_job_start", "on_job_end"):
            hook = getattr(self, name)
            if hook is not None and not callable(hook):
                raise ValueError(f"{name} must be a callable taking (ctx), not {hook!r}")

    @property
    def around_jobs(self) -> bool:
        """Whether a hook runs around each job (so each job needs its ctx)."""
        return self.on_job_start is not None or self.on_job_end is not None


NO_LIFECYCLE = Lifecycle()


def hook_name(hook: object) -> str:
    """``module.qualname`` of *hook*, for error messages (its type otherwise)."""
    module = getattr(hook, "__module__", None)
    qualname = getattr(hook, "__qualname__", None)
    if isinstance(module, str) and isinstance(qualname, str):
        return f"{module}.{qualname}"
    return type(hook).__qualname__


def job_keys(job_id: str, attempt: int, enqueued: float | None, queue: str) -> dict[str, Any]:
    """The keys a job adds to its slot's ctx (arq's names, plus ``queue``)."""
    return {
        "job_id": job_id,
        "job_try": attempt,
        "enqueue_time": None if enqueued is None else datetime.fromtimestamp(enqueued, UTC),
        "queue": queue,
    }
