"""Running one job: the same code in a worker's slot process, a worker
thread and the immediate backend.

:func:`run_job` never raises: whatever happens becomes an
:class:`~joblane.core.outcome.Outcome`. A coroutine function is run to
completion on an event loop kept for the life of the process.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import contextvars
import inspect
import os
import threading
import traceback
from dataclasses import dataclass, field
from typing import Any

import orjson

from joblane import config
from joblane.core.identity import Identity, Restore, shown_user
from joblane.core.job import JobRecord
from joblane.core.limits import RESULT_DROPPED
from joblane.core.outcome import (
    FUNCTION_IMPORT,
    FUNCTION_NOT_ALLOWED,
    IDENTITY_NOT_RESTORED,
    PAYLOAD_DECODE,
    RESULT_NOT_SERIALIZABLE,
    UNKNOWN_TASK,
    Outcome,
)
from joblane.core.retry import Retry, RetryJob, exception_names, retries_on
from joblane.core.serialization import decode_call, dumps
from joblane.errors import ConfigurationError, IdentityError, SerializationError
from joblane.tasks import AllowPolicy, FunctionNotAllowed, UnknownTask, defaults_for, resolve


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a running job may know about itself (see :func:`current_job`)."""

    id: str
    queue: str
    func_name: str
    attempt: int
    meta: dict[str, Any] = field(default_factory=dict)
    """The job's meta as enqueued (a copy: changing it stores nothing)."""
    enqueued: float | None = None
    """When the job was enqueued (POSIX seconds), or None."""
    enqueued_by: Identity | None = None
    """Who enqueued the job (joblane.identity), or None."""


def job_context(job: JobRecord) -> JobContext:
    """The context of *job*, run in this process (a thread, the immediate backend)."""
    return JobContext(job.id, job.queue, job.func_name, job.attempts, dict(job.meta),
                      job.enqueued, job.enqueued_by)  # fmt: skip


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
    max_result: int | None = None,
    restore: Restore | None = None,
) -> Outcome:
    """Run one job and describe what happened; never raises.

    *allow* None runs any importable function (the caller's own process). A
    job enqueued by someone (``context.enqueued_by``) runs inside *restore*'s
    context manager, or fails if *restore* is None or fails (see
    :func:`_restored`).
    """
    try:
        if allow is not None:
            allow.check_name(func_name)  # before decoding or importing anything
    except FunctionNotAllowed as refused:
        return _not_allowed(refused)
    try:
        args, kwargs = decode_call(payload)
    except Exception as error:
        return Outcome.failure(
            f"{PAYLOAD_DECODE}: the job's arguments could not be decoded: {error}",
            retryable=False,
        )
    try:
        func = resolve(func_name, allow)
    except FunctionNotAllowed as refused:  # what the name resolved to is not allowed
        return _not_allowed(refused)
    except Exception as error:
        return Outcome.failure(
            f"{FUNCTION_IMPORT}: cannot import {func_name!r}: {type(error).__name__}: {error}"
        )
    token = _current.set(context)
    try:
        by = None if context is None else context.enqueued_by
        if by is None:  # the usual job: nothing to restore
            value = func(*args, **kwargs)
            if inspect.isawaitable(value):
                value = _run_coroutine(value)
        else:
            value = _run_as(by, restore, func, args, kwargs)
    except _NotRestored as not_restored:
        return not_restored.outcome
    except BaseException as error:  # a job's SystemExit is its failure, not the worker's
        return _failed(func_name, error)
    finally:
        _current.reset(token)
    try:
        result = dumps(value, f"return value of {func_name}")
    except SerializationError as error:
        return Outcome.failure(f"{RESULT_NOT_SERIALIZABLE}: {error}", retryable=False)
    try:
        limit = config.max_result() if max_result is None else max_result
    except ConfigurationError as error:
        return Outcome.failure(f"{type(error).__name__}: {error}")
    return Outcome.success(result if len(result) <= limit else dropped(result, limit))


class _NotRestored(Exception):
    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome


def _run_as(
    identity: Identity,
    restore: Restore | None,
    func: Any,
    args: list[Any],
    kwargs: dict[str, Any],
) -> Any:
    """Call the job inside *restore*'s context for *identity*; _NotRestored
    if that context cannot be entered."""
    with contextlib.ExitStack() as stack:
        not_restored = _restored(stack, identity, restore)
        if not_restored is not None:
            raise _NotRestored(not_restored)
        value = func(*args, **kwargs)
        if inspect.isawaitable(value):
            value = _run_coroutine(value)
        return value


def _restored(
    stack: contextlib.ExitStack, identity: Identity, restore: Restore | None
) -> Outcome | None:
    """Enter *restore*'s context for *identity* on *stack*; the failed outcome
    if it cannot be: not retried without a hook or when the hook raises
    IdentityError (the user cannot be run as), retried by the job's policy
    when it raises anything else (a database down while loading the user)."""
    who = shown_user(identity.user_id)
    if restore is None:
        return Outcome.failure(
            f"{IDENTITY_NOT_RESTORED}: the job was enqueued by user {who}, and this worker "
            "has no identity hook to run it as that user (Worker(identity=...), joblane "
            "worker --identity; joblane.identity:ignore runs jobs without their user)",
            retryable=False,
        )
    try:
        stack.enter_context(restore(identity))
    except IdentityError as error:
        return Outcome.failure(
            f"{IDENTITY_NOT_RESTORED}: cannot run the job as user {who}: {error}",
            retryable=False,
        )
    except Exception as error:
        return Outcome.failure(
            f"{IDENTITY_NOT_RESTORED}: cannot run the job as user {who}: "
            f"{type(error).__name__}: {error}"
        )
    return None


def _failed(func_name: str, error: BaseException) -> Outcome:
    """The outcome of a job that raised *error*: the retry it asked for
    (RetryJob), or a failure, retryable unless the function's
    ``@job(retry=Retry(on=...))`` does not list the error."""
    if isinstance(error, RetryJob):
        return Outcome.retry_in(error.defer, f"RetryJob: {error}")
    options = defaults_for(func_name)
    retry = None if options is None else options.retry
    retryable = not isinstance(retry, Retry) or retries_on(exception_names(retry.on), error)
    return Outcome.failure(_format_job_error(error), retryable=retryable)


def dropped(result: bytes, limit: int) -> bytes:
    """The marker kept instead of a result over *limit* bytes."""
    return orjson.dumps(
        {
            "joblane": RESULT_DROPPED,
            "reason": f"the return value encodes to {len(result)} bytes, over the limit of "
            f"{limit} bytes (JOBLANE_MAX_RESULT)",
            "bytes": len(result),
        }
    )


def _not_allowed(refused: FunctionNotAllowed) -> Outcome:
    reason = UNKNOWN_TASK if isinstance(refused, UnknownTask) else FUNCTION_NOT_ALLOWED
    return Outcome.failure(f"{reason}: {refused}", retryable=False)


def _format_job_error(error: BaseException) -> str:
    """The traceback from the job's own first frame on (joblane's and asyncio's
    frames above it are dropped)."""
    tb = error.__traceback__
    while tb is not None and _is_plumbing(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(error), error, tb))


_ASYNCIO_DIR = os.path.dirname(asyncio.__file__)


def _is_plumbing(filename: str) -> bool:
    return filename == __file__ or filename.startswith(_ASYNCIO_DIR)


def _run_coroutine(awaitable: Any) -> Any:
    async def wrap() -> Any:
        return await awaitable

    context = contextvars.copy_context()  # current_job() inside the coroutine
    try:
        asyncio.get_running_loop()
        in_loop = True
    except RuntimeError:
        in_loop = False
    if not in_loop:
        if threading.current_thread() is threading.main_thread():
            # A slot process: one event loop for the life of the process.
            return _main_runner().run(wrap(), context=context)
        return context.run(asyncio.run, wrap())
    # Called from inside a running loop (an async app with the immediate
    # backend): that loop cannot be re-entered, so run the job on its own.
    result: list[Any] = []
    errors: list[BaseException] = []

    def guarded() -> None:
        try:
            result.append(asyncio.run(wrap()))
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=context.run, args=(guarded,))
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


def _main_runner() -> asyncio.Runner:
    runner: asyncio.Runner | None = getattr(_local, "runner", None)
    if runner is None:
        runner = _local.runner = asyncio.Runner()
        atexit.register(runner.close)
    return runner
