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
import functools
import inspect
import logging
import os
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import Executor
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
    HOOK_FAILED,
    IDENTITY_NOT_RESTORED,
    JOB_SIGNATURE,
    PAYLOAD_DECODE,
    RESULT_NOT_SERIALIZABLE,
    UNKNOWN_TASK,
    Outcome,
)
from joblane.core.retry import Retry, RetryJob, exception_names, retries_on
from joblane.core.serialization import decode_call, dumps
from joblane.errors import ConfigurationError, IdentityError, SerializationError
from joblane.tasks import (
    AllowPolicy,
    FunctionNotAllowed,
    UnknownTask,
    defaults_for,
    forwards_identity,
    resolve,
    resolve_allowed,
    takes_context,
)
from joblane.worker.lifecycle import NO_LIFECYCLE, Lifecycle, hook_name, job_keys

log = logging.getLogger("joblane.worker")


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


@dataclass(slots=True)
class SlotState:
    """What a slot (a process, a thread executor, the immediate backend) keeps
    for the jobs it runs: its hooks and the ctx ``on_startup`` filled."""

    lifecycle: Lifecycle = NO_LIFECYCLE
    ctx: dict[str, Any] = field(default_factory=dict)


_NO_SLOT = SlotState()
CoroutineRunner = Callable[[Any], Any]
"""Runs an awaitable to completion from synchronous code and returns its value."""


@dataclass(slots=True)
class _Call:
    """A job ready to be called: its function, arguments, and ctx if it needs one."""

    func_name: str
    func: Callable[..., Any]
    args: list[Any]
    kwargs: dict[str, Any]
    ctx: dict[str, Any] | None
    slot: SlotState


def run_job(
    func_name: str,
    payload: bytes,
    allow: AllowPolicy | None,
    context: JobContext | None = None,
    max_result: int | None = None,
    restore: Restore | None = None,
    slot: SlotState | None = None,
    run_coroutine: CoroutineRunner | None = None,
) -> Outcome:
    """Run one job and describe what happened; never raises.

    *allow* None runs any importable function (the caller's own process). A
    job enqueued by someone (``context.enqueued_by``) runs inside *restore*'s
    context manager, or fails if *restore* is None or fails (see
    :func:`_restored`). *slot* gives a function registered with
    ``takes_context`` its ctx and runs the slot's ``on_job_start`` /
    ``on_job_end`` around the job; *run_coroutine* runs an awaitable the job
    (or a hook) returns (default: the process's loop, see :func:`_run_coroutine`).
    """
    call = _prepare(func_name, payload, allow, context, slot or _NO_SLOT)
    if isinstance(call, Outcome):
        return call
    runner = run_coroutine or _run_coroutine
    token = _current.set(context)
    try:
        value = _call_sync(call, context, restore, runner)
    except _EndedEarly as not_restored:
        return not_restored.outcome
    except BaseException as error:  # a job's SystemExit is its failure, not the worker's
        return _failed_call(call, error)
    finally:
        _current.reset(token)
    return _finish(func_name, value, max_result)


async def arun_job(
    func_name: str,
    payload: bytes,
    allow: AllowPolicy | None,
    context: JobContext,
    restore: Restore | None,
    slot: SlotState,
    pool: Executor,
) -> Outcome:
    """:func:`run_job` as a task of a slot's event loop, beside the slot's other
    jobs: a coroutine function is awaited here, a plain function runs on *pool*
    (its thread waited for even when this task is cancelled). Cancelling the
    task raises CancelledError in the job; it propagates to the caller."""
    call = _prepare(func_name, payload, allow, context, slot)
    if isinstance(call, Outcome):
        return call
    _current.set(context)  # this task's own context: current_job() in the job
    try:
        value = await _call_async(call, context, restore, pool)
    except _EndedEarly as not_restored:
        return not_restored.outcome
    except asyncio.CancelledError:
        raise
    except BaseException as error:
        return _failed_call(call, error)
    return _finish(func_name, value, max_result=None)


def _prepare(
    func_name: str, payload: bytes, allow: AllowPolicy | None, context: JobContext | None,
    slot: SlotState,
) -> _Call | Outcome:  # fmt: skip
    """The job's function and arguments, or the outcome that stops it first."""
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
        func = resolve(func_name) if allow is None else resolve_allowed(func_name, allow)
    except FunctionNotAllowed as refused:  # what the name resolved to is not allowed
        return _not_allowed(refused)
    except Exception as error:
        return Outcome.failure(
            f"{FUNCTION_IMPORT}: cannot import {func_name!r}: {type(error).__name__}: {error}"
        )
    # Looked up after the import: importing the module registers the function.
    wants = takes_context(func_name)
    ctx = None
    if wants or slot.lifecycle.around_jobs:
        ctx = dict(slot.ctx)
        if context is not None:
            ctx.update(job_keys(context.id, context.attempt, context.enqueued, context.queue))
        if wants:
            args = [ctx, *args]
    return _Call(func_name, func, args, kwargs, ctx, slot)


def _finish(func_name: str, value: Any, max_result: int | None) -> Outcome:
    try:
        result = dumps(value, f"return value of {func_name}")
    except SerializationError as error:
        return Outcome.failure(f"{RESULT_NOT_SERIALIZABLE}: {error}", retryable=False)
    try:
        limit = config.max_result() if max_result is None else max_result
    except ConfigurationError as error:
        return Outcome.failure(f"{type(error).__name__}: {error}")
    return Outcome.success(result if len(result) <= limit else dropped(result, limit))


def _call_sync(
    call: _Call, context: JobContext | None, restore: Restore | None, runner: CoroutineRunner
) -> Any:
    lifecycle = call.slot.lifecycle
    if call.ctx is None:  # the usual job: no ctx, no hooks around it
        return _invoke(call, context, restore, runner)
    if lifecycle.on_job_start is not None:
        try:
            _await_in(lifecycle.on_job_start(call.ctx), runner)
        except Exception as error:
            raise _EndedEarly(_hook_failed("on_job_start", lifecycle.on_job_start, error)) from None
    try:
        return _invoke(call, context, restore, runner)
    finally:
        if lifecycle.on_job_end is not None:
            try:
                _await_in(lifecycle.on_job_end(call.ctx), runner)
            except Exception:
                log.exception("on_job_end hook %s raised", hook_name(lifecycle.on_job_end))


def _invoke(
    call: _Call, context: JobContext | None, restore: Restore | None, runner: CoroutineRunner
) -> Any:
    by = None if context is None else context.enqueued_by
    if by is None or forwards_identity(call.func_name):
        return _await_in(call.func(*call.args, **call.kwargs), runner)
    return _run_as(by, restore, call.func, call.args, call.kwargs, runner)


def _await_in(value: Any, runner: CoroutineRunner) -> Any:
    return runner(value) if inspect.isawaitable(value) else value


async def _call_async(
    call: _Call, context: JobContext, restore: Restore | None, pool: Executor
) -> Any:
    lifecycle = call.slot.lifecycle
    ctx = call.ctx if call.ctx is not None else {}
    if lifecycle.on_job_start is not None:
        try:
            await maybe_await(lifecycle.on_job_start(ctx))
        except Exception as error:
            raise _EndedEarly(_hook_failed("on_job_start", lifecycle.on_job_start, error)) from None
    try:
        if not inspect.iscoroutinefunction(call.func):
            # A plain function: on the slot's thread pool, restored in its thread.
            loop = asyncio.get_running_loop()
            runner = functools.partial(_await_from_thread, loop)
            job = functools.partial(_invoke, call, context, restore, runner)
            return await _wait_thread(
                loop.run_in_executor(pool, contextvars.copy_context().run, job)
            )
        by = context.enqueued_by
        if by is None or forwards_identity(call.func_name):
            return await call.func(*call.args, **call.kwargs)
        with contextlib.ExitStack() as stack:
            not_restored = _restored(stack, by, restore)
            if not_restored is not None:
                raise _EndedEarly(not_restored)
            return await call.func(*call.args, **call.kwargs)
    finally:
        if lifecycle.on_job_end is not None:
            try:
                await maybe_await(lifecycle.on_job_end(ctx))
            except Exception:
                log.exception("on_job_end hook %s raised", hook_name(lifecycle.on_job_end))


async def maybe_await(value: Any) -> Any:
    """*value*, awaited if it is awaitable (a hook that may be sync or async)."""
    return await value if inspect.isawaitable(value) else value


def run_to_end(value: Any) -> Any:
    """*value*, run to its end on this process's loop if it is awaitable
    (a hook of a slot running one job at a time)."""
    return _run_coroutine(value) if inspect.isawaitable(value) else value


def _await_from_thread(loop: asyncio.AbstractEventLoop, awaitable: Any) -> Any:
    """A plain function of a slot's pool returned an awaitable: run it on the slot's loop."""

    async def wrap() -> Any:
        return await awaitable

    return asyncio.run_coroutine_threadsafe(wrap(), loop).result()


async def _wait_thread(future: asyncio.Future[Any]) -> Any:
    """Await *future* (a thread's work) to its end: a thread cannot be cancelled,
    so a cancel is held until the thread returns, then raised."""
    cancelled = False
    while not future.done():
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return future.result()


def _hook_failed(which: str, hook: object, error: BaseException) -> Outcome:
    return Outcome.failure(
        f"{HOOK_FAILED}: the worker's {which} hook {hook_name(hook)} raised "
        f"{type(error).__name__}: {error}; the job did not run"
    )


def _failed_call(call: _Call, error: BaseException) -> Outcome:
    if isinstance(error, TypeError):
        mismatch = _signature_mismatch(call)
        if mismatch is not None:
            return Outcome.failure(mismatch)
    return _failed(call.func_name, error)


def _signature_mismatch(call: _Call) -> str | None:
    """The reason, when the call itself raised TypeError because the job's
    arguments do not fit its function (not a TypeError from inside it)."""
    try:
        signature = inspect.signature(call.func)
    except (TypeError, ValueError):
        return None
    try:
        signature.bind(*call.args, **call.kwargs)
    except TypeError as error:
        problem = str(error)
    else:
        return None
    shown = f"{call.func_name}{signature}"
    text = f"{JOB_SIGNATURE}: the job's arguments do not fit {shown}: {problem}"
    first = next(iter(signature.parameters), None)
    if not takes_context(call.func_name) and (first == "ctx" or _binds_with_ctx(signature, call)):
        return (
            f"{text}. It looks like it takes a context first: register it with "
            f"@job(takes_context=True) or joblane.tasks.register(func, takes_context=True) "
            "in a module this worker imports (--import, --settings)"
        )
    return text


def _binds_with_ctx(signature: inspect.Signature, call: _Call) -> bool:
    try:
        signature.bind({}, *call.args, **call.kwargs)
    except TypeError:
        return False
    return True


class _EndedEarly(Exception):
    """The job did not run: its identity could not be restored, or on_job_start failed."""

    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome


def _run_as(
    identity: Identity,
    restore: Restore | None,
    func: Any,
    args: list[Any],
    kwargs: dict[str, Any],
    runner: CoroutineRunner,
) -> Any:
    """Call the job inside *restore*'s context for *identity*; _EndedEarly
    if that context cannot be entered."""
    with contextlib.ExitStack() as stack:
        not_restored = _restored(stack, identity, restore)
        if not_restored is not None:
            raise _EndedEarly(not_restored)
        return _await_in(func(*args, **kwargs), runner)


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
