"""Running one job: the same code in a worker's slot process, a worker
thread and the immediate backend.

:func:`run_job` never raises: whatever happens becomes an
:class:`~joblane.core.outcome.Outcome`. A coroutine function is run to
completion on an event loop kept for the life of the process.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import threading
import traceback
from dataclasses import dataclass
from typing import Any

from joblane.core.outcome import (
    FUNCTION_IMPORT,
    FUNCTION_NOT_ALLOWED,
    PAYLOAD_DECODE,
    RESULT_NOT_SERIALIZABLE,
    Outcome,
)
from joblane.core.serialization import decode_call, dumps
from joblane.errors import SerializationError
from joblane.tasks import AllowPolicy, resolve


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a running job may know about itself (see :func:`current_job`)."""

    id: str
    queue: str
    func_name: str
    attempt: int


_current: contextvars.ContextVar[JobContext | None] = contextvars.ContextVar(
    "joblane_current_job", default=None
)
_local = threading.local()


def current_job() -> JobContext | None:
    """The job running in this thread or task, or None outside a job."""
    return _current.get()


def run_job(
    func_name: str,
    payload: bytes,
    allow: AllowPolicy | None,
    context: JobContext | None = None,
) -> Outcome:
    """Run one job and describe what happened; never raises.

    *allow* None runs any importable function (the caller's own process);
    otherwise a name it does not permit fails without importing anything.
    """
    if allow is not None and not allow.permits(func_name):
        return Outcome.failure(
            f"{FUNCTION_NOT_ALLOWED}: {func_name!r} is not allowed in this worker "
            f"(allowed: {allow.describe()}); mark it with @joblane.job and --import its "
            "module, or --allow its module prefix",
            retryable=False,
        )
    try:
        args, kwargs = decode_call(payload)
    except Exception as error:
        return Outcome.failure(
            f"{PAYLOAD_DECODE}: the job's arguments could not be decoded: {error}",
            retryable=False,
        )
    try:
        func = resolve(func_name)
    except Exception as error:
        return Outcome.failure(
            f"{FUNCTION_IMPORT}: cannot import {func_name!r}: {type(error).__name__}: {error}"
        )
    token = _current.set(context)
    try:
        value = func(*args, **kwargs)
        if inspect.isawaitable(value):
            value = _run_coroutine(value)
    except BaseException as error:  # a job's SystemExit is its failure, not the worker's
        # Drop this frame: the traceback starts in the job's own code.
        tb = error.__traceback__.tb_next if error.__traceback__ else None
        return Outcome.failure("".join(traceback.format_exception(type(error), error, tb)))
    finally:
        _current.reset(token)
    try:
        return Outcome.success(dumps(value, f"return value of {func_name}"))
    except SerializationError as error:
        return Outcome.failure(f"{RESULT_NOT_SERIALIZABLE}: {error}", retryable=False)


def _run_coroutine(awaitable: Any) -> Any:
    async def wrap() -> Any:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        # The usual case: one event loop per thread, kept for its whole life.
        runner: asyncio.Runner | None = getattr(_local, "runner", None)
        if runner is None:
            runner = _local.runner = asyncio.Runner()
        return runner.run(wrap())
    # Called from inside a running loop (an async app with the immediate
    # backend): that loop cannot be re-entered, so run the job on its own.
    result: list[Any] = []

    def run_elsewhere() -> None:
        result.append(asyncio.run(wrap()))

    errors: list[BaseException] = []

    def guarded() -> None:
        try:
            run_elsewhere()
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=guarded)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]
