"""What runs inside a slot process (see :mod:`joblane.worker.slots`).

A slot first runs the worker's ``on_startup`` hook (if any) and says whether
it is ready (:mod:`joblane.worker.frames`), then serves the job frames the
worker writes, in one of two ways:

* **one job at a time** (``jobs_per_slot=1``, the default): read a frame, run
  the job to its end, write its outcome, read the next. A coroutine job runs
  on the event loop the process keeps for its whole life (the one
  ``on_startup`` ran on).
* **several at a time** (``jobs_per_slot=N``): an event loop serves up to N
  jobs at once. A thread reads frames (so the worker never blocks writing to
  a slot that is busy writing outcomes) and hands them to the loop; each job
  is a task: a coroutine function is awaited on the loop, a plain function
  runs on the slot's pool of N threads. A cancel frame cancels that job's
  task (CancelledError in the coroutine); a plain function's thread cannot be
  cancelled, so its cancel waits for it to return. Outcomes are written as
  jobs end, each naming its job.

A slot that runs one job at a time may also be told to *wait* for a job
handed to its worker (a backend with hand-offs, see ``SlotHandOff`` in
backends/base.py): it then waits on the backend and on its pipe at once, and
a job that comes is written to the worker first (``TOOK``), then run, so that
the job reaches the process that runs it without passing through the worker.

When the worker closes the pipe (its graceful exit), the slot waits for its
jobs, runs ``on_shutdown`` and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import select
import signal
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection

from joblane.backends.base import SlotHandOff
from joblane.core.identity import Restore
from joblane.core.outcome import Outcome
from joblane.tasks import AllowPolicy
from joblane.worker import frames
from joblane.worker.lifecycle import Hook, hook_name
from joblane.worker.run import (
    JobContext,
    SlotState,
    arun_job,
    job_context,
    maybe_await,
    run_job,
    run_to_end,
)

log = logging.getLogger("joblane.worker")

_PR_SET_PDEATHSIG = 1

CANCELLED = Outcome.failure("asyncio.CancelledError: the job was cancelled")
"""What a slot reports for a job it cancelled (the worker records the reason it
asked for: a timeout, a cancel)."""


def die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this process when the worker dies (kill -9 included)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _ignore(signum: int, frame: object) -> None:
    pass


def slot_main(
    conn: Connection, allow: AllowPolicy, parent: int, restore: Restore | None,
    slot: SlotState, jobs_per_slot: int, handoff: SlotHandOff | None = None,
) -> int:  # fmt: skip
    """Serve jobs until the worker closes the pipe; the process's exit status."""
    # The parent decides when the slot stops: a terminal's Ctrl+C or a
    # service manager's SIGTERM to the whole group must not kill the job. A
    # handler that does nothing (rather than SIG_IGN) is reset to the default
    # by exec, so processes the job starts still obey SIGTERM.
    signal.signal(signal.SIGINT, _ignore)
    signal.signal(signal.SIGTERM, _ignore)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    # Its own process group: killing the slot also kills what the job started.
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
    die_with_parent(parent)
    try:
        if jobs_per_slot > 1:
            return asyncio.run(_serve_many(conn, allow, restore, slot, jobs_per_slot))
        return _serve_one_at_a_time(conn, allow, restore, slot, handoff)
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()


def _serve_one_at_a_time(
    conn: Connection, allow: AllowPolicy, restore: Restore | None, slot: SlotState,
    handoff: SlotHandOff | None,
) -> int:  # fmt: skip
    hooks = slot.lifecycle
    if hooks.on_startup is not None:
        try:
            run_to_end(hooks.on_startup(slot.ctx))
        except BaseException as error:
            _report_startup_failure(conn, hooks.on_startup, error)
            return 1
        conn.send_bytes(frames.READY)
    reader = frames.FrameReader(conn.fileno())
    wait = _HandOffWait(conn, handoff)
    while True:
        try:
            frame = reader.take()
            if frame is None:
                job = wait.handed()  # blocks until the pipe or the hand-off has something
                if job is None:
                    reader.read()
                    continue
            elif frames.is_control(frame):
                wait.control(frame)  # a cancel is ignored: one job at a time, killed instead
                continue
            else:
                job = frames.decode_job(frame)
        except (EOFError, OSError):
            break
        context, payload = job
        outcome = run_job(context.func_name, payload, allow, context, restore=restore, slot=slot)
        try:
            conn.send_bytes(frames.encode_outcome(context.id, outcome))
        except OSError:
            return 0
    if hooks.on_shutdown is not None:
        try:
            run_to_end(hooks.on_shutdown(slot.ctx))
        except BaseException:
            log.exception("on_shutdown hook %s raised", hook_name(hooks.on_shutdown))
    return 0


class _HandOffWait:
    """A slot's wait for a job handed to its worker (frames WAIT, UNWAIT; see
    backends/base.py SlotHandOff), beside the worker's pipe."""

    def __init__(self, conn: Connection, handoff: SlotHandOff | None) -> None:
        self.conn = conn
        self.handoff = handoff
        self.fd: int | None = None
        """While waiting: the socket the hand-off's reply comes on."""
        self.deadline = 0.0
        """While waiting: when to give the wait up if nothing came."""

    def control(self, frame: bytes) -> None:
        handoff = self.handoff
        if handoff is None:
            return
        if frame == frames.WAIT and self.fd is None:
            self.fd = handoff.wait()
            self.deadline = time.monotonic() + handoff.limit
            if self.fd is None:
                self.conn.send_bytes(frames.FREED)
        elif frame == frames.UNWAIT and self.fd is not None and not handoff.unwait():
            self.fd = None
            self.conn.send_bytes(frames.FREED)

    def handed(self) -> tuple[JobContext, bytes] | None:
        """Not waiting, or the worker's pipe has something: None at once.
        Else block until one of them has something; a job handed is first
        reported to the worker (which records its start and renews its lease
        from then on), then returned to run if it decodes; the end of the wait
        is reported as such. OSError if the worker is gone."""
        if self.fd is None or self.handoff is None:
            return None
        pipe = self.conn.fileno()
        remaining = max(self.deadline - time.monotonic(), 0.0)
        ready, _, _ = select.select([pipe, self.fd], [], [], remaining)
        if not ready:
            self.handoff.abandon()
        elif self.fd not in ready:
            return None
        self.fd = None
        entry = None if not ready else self.handoff.read()
        if entry is None:
            self.conn.send_bytes(frames.FREED)
            return None
        self.conn.send_bytes(frames.TOOK + entry)
        try:
            job = self.handoff.decode(entry)
        except Exception:  # the worker decodes it too, and leaves it to its lease
            return None
        return job_context(job), job.payload


def _report_startup_failure(conn: Connection, hook: Hook, error: BaseException) -> None:
    text = "".join(traceback.format_exception_only(type(error), error)).strip()
    with contextlib.suppress(OSError):
        conn.send_bytes(frames.encode_startup_failure(f"on_startup hook {hook_name(hook)} "
                                                      f"raised {text}"))  # fmt: skip


async def _serve_many(
    conn: Connection, allow: AllowPolicy, restore: Restore | None, slot: SlotState, size: int
) -> int:
    hooks = slot.lifecycle
    if hooks.on_startup is not None:
        try:
            await maybe_await(hooks.on_startup(slot.ctx))
        except BaseException as error:
            _report_startup_failure(conn, hooks.on_startup, error)
            return 1
        conn.send_bytes(frames.READY)
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[bytes | None] = asyncio.Queue()
    threading.Thread(target=_read_frames, args=(conn, loop, inbox), daemon=True,
                     name="joblane-slot-reader").start()  # fmt: skip
    pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="joblane-slot")
    tasks: dict[str, asyncio.Task[None]] = {}

    async def run(context: JobContext, payload: bytes) -> None:
        try:
            outcome = await arun_job(
                context.func_name, payload, allow, context, restore, slot, pool
            )
        except asyncio.CancelledError:
            outcome = CANCELLED
        except Exception:  # never a job left without an outcome
            outcome = Outcome.failure(traceback.format_exc())
        finally:
            tasks.pop(context.id, None)
        with contextlib.suppress(OSError):  # the worker is gone: nothing to tell
            conn.send_bytes(frames.encode_outcome(context.id, outcome))

    while (frame := await inbox.get()) is not None:
        if frames.is_control(frame):
            cancel = frames.decode_cancel(frame)
            task = tasks.get(cancel) if cancel is not None else None
            if task is not None:
                task.cancel()
            continue
        # A frame that does not decode ends the slot, as in a slot serving one
        # job at a time: the worker sees its EOF and its jobs are lost.
        context, payload = frames.decode_job(frame)
        tasks[context.id] = loop.create_task(run(context, payload))
    if tasks:  # the worker closes only a slot with no job; be safe all the same
        await asyncio.wait(list(tasks.values()))
    if hooks.on_shutdown is not None:
        try:
            await maybe_await(hooks.on_shutdown(slot.ctx))
        except BaseException:
            log.exception("on_shutdown hook %s raised", hook_name(hooks.on_shutdown))
    pool.shutdown(wait=False)
    return 0


def _read_frames(
    conn: Connection, loop: asyncio.AbstractEventLoop, inbox: asyncio.Queue[bytes | None]
) -> None:
    """The slot's reader thread: every frame to the loop, then None at EOF."""
    while True:
        try:
            frame: bytes | None = conn.recv_bytes()
        except (EOFError, OSError):
            frame = None
        try:
            loop.call_soon_threadsafe(inbox.put_nowait, frame)
        except RuntimeError:  # the loop is closed
            return
        if frame is None:
            return
