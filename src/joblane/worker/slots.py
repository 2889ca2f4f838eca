"""Where jobs run: long-lived slot processes (the default; threads are in
:mod:`joblane.worker.thread_executor`).

Why processes, kept alive between jobs
--------------------------------------
A worker must stop a job that overruns its ``job_timeout`` even when it never
yields (a busy loop, a blocking C call), and survive a job that kills its own
process (``os._exit``, a segfault, the OOM killer). Only a separate process
gives both: it can be SIGKILLed, and its death is seen as EOF on its pipe.
Forking one per job (RQ's work horse) caps throughput at a few hundred jobs a
second, so each of the worker's *concurrency* slots is a process forked once
at start, after the application was imported, and reused job after job; a
slot is replaced only when its job misbehaves (timeout, crash, cancel). The
orchestrating parent never runs job code, so a job holding the GIL cannot
starve lease renewal.

One job at a time, or several
-----------------------------
With ``jobs_per_slot=1`` (the default) a slot runs one job at a time, and
outcomes come back in the order jobs were written. For very short jobs the
worker pipelines (``depth`` 2, decided by :func:`~joblane.worker.batching.plan_batch`):
the next job waits in the slot's pipe so that the slot never idles. A job
over its timeout, or canceled, is stopped by killing its slot; the job
waiting behind it goes to the replacement slot, unstarted.

With ``jobs_per_slot=N`` a slot runs up to N jobs at once on its event loop
(:mod:`joblane.worker.slotprocess`): coroutine jobs as tasks, plain
functions on the slot's threads. Capacity is ``concurrency x N``, and every
job sent to a slot with room starts at once (no pipelining). Outcomes name
their job (:mod:`joblane.worker.frames`) and come back in any order. A job
over its timeout, or canceled, is stopped *alone*: a cancel frame makes the
slot cancel its task (CancelledError in the coroutine), and the job ends as
the worker decided (a timeout, stopped) whatever it returns. A job still
running :data:`CANCEL_GRACE` seconds later (it swallowed CancelledError, or
it is a plain function, whose thread cannot be stopped) is killed with its
slot: that job ends as decided, and the slot's other jobs are given back to
their queue (INTERRUPTED: the attempt is not counted). A slot that dies
(kill -9, the OOM killer) loses every job it ran: each runs again, first in
its queue, by the ``max_lost`` rule, exactly as a single job would.

Each slot runs the worker's ``on_startup`` hook before it takes a job (the
worker waits for it: a failure stops the worker with WorkerStartupError), and
``on_shutdown`` when the worker closes it at a normal exit
(:mod:`joblane.worker.lifecycle`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import select
import signal
import socket
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Protocol

from joblane.backends.base import SlotHandOff
from joblane.core.identity import Restore
from joblane.core.job import JobRecord
from joblane.core.outcome import INTERRUPTED, Outcome, worker_lost_error
from joblane.errors import WorkerStartupError
from joblane.tasks import AllowPolicy
from joblane.worker import frames
from joblane.worker.lifecycle import (
    NO_LIFECYCLE,
    SHUTDOWN_TIMEOUT,
    STARTUP_TIMEOUT,
    Lifecycle,
)
from joblane.worker.run import SlotState
from joblane.worker.slotprocess import die_with_parent, slot_main

log = logging.getLogger("joblane.worker")

__all__ = [
    "CANCEL_GRACE",
    "Executor",
    "ProcessExecutor",
    "Running",
    "die_with_parent",
    "kill_group",
]

CANCEL_GRACE = 5.0
"""Seconds a job asked to stop alone (a slot running several jobs) has to end
before its slot is killed with it; the slot's other jobs are given back."""
IGNORED_CANCEL = (
    f"; it did not stop within {CANCEL_GRACE:g} s of its cancellation, so its slot "
    "process was killed (the slot's other jobs went back to their queue)"
)


@dataclass(slots=True)
class Running:
    """A job held by a slot: running (it has a deadline once it started, on
    the monotonic clock) or waiting in the slot's pipe behind the running one."""

    job: JobRecord
    began: float
    deadline: float | None
    started: bool = True
    abandoned: bool = False
    """Killed while waiting in the pipe: its outcome, when it comes, is dropped."""
    frame: bytes | None = None
    """Not written to the slot yet (written when the job before it ends)."""
    stopping: bool = False
    """Asked to stop alone (a cancel frame sent to a slot running several jobs):
    it is killed with its slot at *deadline* unless it ends first."""
    stop_outcome: Outcome | None = None
    """What a stopping job's end is recorded as, whatever the slot says (None:
    nothing is recorded, its lease was lost)."""


class Executor(Protocol):
    capacity: int
    can_kill: bool
    """Whether kill() stops the job (a process) or only abandons it (a thread)."""
    depth: int
    """Jobs a slot may hold at once: 1, or 2 to pipeline very short jobs (the
    next one waits in the slot's pipe, so the slot never idles between them)."""

    def start(self) -> None: ...

    def free(self) -> int:
        """How many more jobs can be submitted now."""
        ...

    def idle(self) -> int:
        """How many slots hold no job: a job submitted now begins at once in one."""
        ...

    def take_started(self) -> list[JobRecord]:
        """The jobs that began running since the previous call, in order."""
        ...

    def running(self) -> list[Running]: ...

    def submit(self, job: JobRecord) -> None:
        """Start *job* in a free slot (the caller checked ``free()``)."""
        ...

    def wait(self, timeout: float) -> list[tuple[JobRecord, Outcome]]:
        """Block up to *timeout* for outcomes; return the ones ready."""
        ...

    def kill(self, job_id: str) -> JobRecord | None:
        """Stop the job now (its slot is replaced); None if it is not running."""
        ...

    def cancel(self, job_id: str, outcome: Outcome | None) -> bool:
        """Ask the running job to stop without stopping its neighbours; wait()
        reports it with *outcome* (None: not at all) once it stopped. False if
        the job is not running here or this executor cannot stop one job of a
        slot alone (the caller kills it instead)."""
        ...

    def kill_all(self) -> list[tuple[JobRecord, Outcome]]:
        """Stop every slot holding a job now (idle ones are left to close()).
        Returns the outcome of each job they held: the real one if it ended
        before the kill, else INTERRUPTED."""
        ...

    def close(self) -> None:
        """Stop every slot; running jobs are killed."""
        ...


# -- slot processes ------------------------------------------------------------


@dataclass(slots=True)
class _Slot:
    pid: int
    conn: Connection
    held: deque[Running] = field(default_factory=deque)
    """The running job first, then those waiting in the pipe."""
    reader: frames.FrameReader = field(init=False)
    """Reads what the slot writes: nothing else reads from *conn*."""
    waiting: bool = False
    """Told to wait for a hand-off (it holds no job), until it says it took
    one or stopped waiting."""
    releasing: bool = False
    """Waiting, and told to stop."""

    def __post_init__(self) -> None:
        self.reader = frames.FrameReader(self.conn.fileno())


PIPE_FRAME_MAX = 16 * 1024
"""A job is written to a busy slot ahead of its turn only if its frame is this
small: it then always fits the socket's buffer, so the worker never blocks on
a slot that is itself blocked writing a large result."""


def kill_group(pid: int) -> None:
    """SIGKILL a slot and every process its job started (the slot's group)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def describe_exit(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        hint = " (out of memory?)" if sig == signal.SIGKILL else ""
        return f"killed by {name}{hint}"
    if os.WIFEXITED(status):
        return f"exited with status {os.WEXITSTATUS(status)}"
    return f"ended with wait status {status}"


class ProcessExecutor:
    """*slots* slot processes, forked once and reused, each running up to
    *jobs_per_slot* jobs at once (see the module docstring)."""

    can_kill = True

    def __init__(
        self, slots: int, allow: AllowPolicy, restore: Restore | None = None, *,
        lifecycle: Lifecycle = NO_LIFECYCLE, jobs_per_slot: int = 1,
    ) -> None:  # fmt: skip
        self.slots = slots
        self.jobs_per_slot = jobs_per_slot
        self.capacity = slots * jobs_per_slot
        self.allow = allow
        self.restore = restore
        """Inherited by each slot at its fork (never pickled), as *lifecycle* is."""
        self.lifecycle = lifecycle
        self.depth = jobs_per_slot
        """One at a time: 1, or 2 when the worker pipelines short jobs; several
        at a time: *jobs_per_slot*, fixed."""
        self._early: list[tuple[JobRecord, Outcome]] = []
        """Outcomes read while killing, handed over by the next wait()."""
        self._failed: WorkerStartupError | None = None
        """A replacement slot whose on_startup failed: raised by the next wait()."""
        self.handoff: SlotHandOff | None = None
        """Set before start() to let an idle slot wait for the jobs handed to
        the worker (:meth:`wait_for_handoff`); one job at a time only."""
        self._handed: list[JobRecord] = []
        self.took = 0
        """How many hand-offs slots said they took (TOOK), in all."""
        self._begun: list[JobRecord] = []
        self._slots: list[_Slot] = []
        self._by_fd: dict[int, _Slot] = {}
        # One poll object for the life of the executor, not a selector per wait.
        self._poll = select.poll()

    @property
    def _many(self) -> bool:
        return self.jobs_per_slot > 1

    def start(self) -> None:
        for _ in range(self.slots):
            self._spawn()

    def _spawn(self) -> _Slot:
        parent_sock, child_sock = socket.socketpair()
        parent = os.getpid()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            code = 0
            try:
                parent_sock.close()
                for other in self._slots:
                    other.conn.close()
                state = SlotState(self.lifecycle, {})
                code = slot_main(Connection(child_sock.detach()), self.allow, parent,
                                 self.restore, state, self.jobs_per_slot,
                                 None if self._many else self.handoff)  # fmt: skip
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        child_sock.close()
        slot = _Slot(pid, Connection(parent_sock.detach()))
        self._slots.append(slot)
        self._by_fd[slot.conn.fileno()] = slot
        self._poll.register(slot.conn.fileno(), select.POLLIN)
        if self.lifecycle.on_startup is not None:
            self._await_ready(slot)
        return slot

    def _await_ready(self, slot: _Slot) -> None:
        """Wait for the slot's on_startup; WorkerStartupError if it fails."""
        failure: str | None
        try:
            if not slot.conn.poll(STARTUP_TIMEOUT):
                failure = f"on_startup did not return within {STARTUP_TIMEOUT:g} s"
            else:
                failure = frames.decode_startup(slot.reader.next())
        except (EOFError, OSError):
            status = self._retire(slot, kill=True)
            failure = f"the slot process {describe_exit(status)} during on_startup"
        if failure is None:
            return
        if slot in self._slots:
            self._retire(slot, kill=True)
        raise WorkerStartupError(f"a slot of this worker could not start: {failure}")

    def _respawn(self) -> None:
        """Replace a slot that was retired; a failed on_startup is kept for wait()."""
        try:
            self._spawn()
        except WorkerStartupError as error:
            self._failed = self._failed or error

    def _retire(self, slot: _Slot, *, kill: bool) -> int:
        """Remove a slot; returns its wait status."""
        self._slots.remove(slot)
        fd = slot.conn.fileno()
        self._by_fd.pop(fd, None)
        with contextlib.suppress(KeyError):
            self._poll.unregister(fd)
        if kill:
            kill_group(slot.pid)
        slot.conn.close()
        _, status = os.waitpid(slot.pid, 0)
        return status

    def free(self) -> int:
        return sum(max(self.depth - len(s.held), 0) for s in self._slots if not s.waiting)

    def idle(self) -> int:
        if self._many:  # a job sent to a slot with room begins at once
            return self.free()
        return sum(1 for s in self._slots if not s.held and not s.waiting)

    # -- a slot waiting for a hand-off (backends/base.py SlotHandOff) ----------

    def waiting_slot(self) -> tuple[int, bool] | None:
        """The slot that waits for a hand-off, if one does: its pipe, and
        whether it was told to stop."""
        return next(((s.conn.fileno(), s.releasing) for s in self._slots if s.waiting), None)

    def wait_for_handoff(self) -> bool:
        """Have an idle slot wait for a job handed to the worker, unless one
        does already; True if one was told to now."""
        if self.handoff is None or self._many or any(s.waiting for s in self._slots):
            return False
        slot = next((s for s in self._slots if not s.held), None)
        if slot is None:
            return False
        slot.waiting = True
        self._write(slot, frames.WAIT)
        return True

    def stop_waiting(self) -> None:
        """Tell the waiting slot to stop: it says so, or that it took a job."""
        for slot in self._slots:
            if slot.waiting and not slot.releasing:
                slot.releasing = True
                self._write(slot, frames.UNWAIT)

    def take_handed(self) -> list[JobRecord]:
        """The jobs that slots took from the hand-off since the last look."""
        handed, self._handed = self._handed, []
        return handed

    def _heard(self, slot: _Slot, frame: bytes) -> None:
        """A control frame from a slot that waited for a hand-off."""
        if not slot.waiting:
            return
        slot.waiting = slot.releasing = False
        if frame[:2] != frames.TOOK or self.handoff is None:
            return  # FREED
        self.took += 1
        entry = frame[2:]
        try:
            job = self.handoff.decode(entry)
        except Exception as error:  # the slot did not run it: its lease lapses
            log.error("a job handed to this worker does not decode (%s); it is "
                      "given back when its lease lapses: %r", error, entry[:200])  # fmt: skip
            return
        now = time.monotonic()
        deadline = now + job.job_timeout if job.job_timeout else None
        slot.held.append(Running(job, now, deadline))
        self._begun.append(job)
        self._handed.append(job)

    def take_started(self) -> list[JobRecord]:
        begun, self._begun = self._begun, []
        return begun

    def running(self) -> list[Running]:
        return [r for s in self._slots for r in s.held if not r.abandoned]

    def submit(self, job: JobRecord) -> None:
        ready = [s for s in self._slots if not s.waiting]
        self._send(min(ready, key=lambda s: len(s.held)), job)

    def _send(self, slot: _Slot, job: JobRecord) -> None:
        frame = frames.encode_job(job)
        now = time.monotonic()
        if not slot.held and slot.conn.poll(0):
            # An idle slot only speaks when it died (the OOM killer, say):
            # replace it rather than charge its death to this job.
            self._retire(slot, kill=True)
            try:
                slot = self._spawn()
            except WorkerStartupError as error:
                self._failed = self._failed or error
                self._early.append((job, INTERRUPTED))  # back to its queue
                return
        if not slot.held or self._many:
            deadline = now + job.job_timeout if job.job_timeout else None
            slot.held.append(Running(job, now, deadline))
            self._begun.append(job)
            self._write(slot, frame)
            return
        waiting = Running(job, now, None, started=False)
        if len(frame) <= PIPE_FRAME_MAX and all(r.frame is None for r in slot.held):
            self._write(slot, frame)  # small: fits the socket buffer, never blocks
        else:
            waiting.frame = frame  # written when the slot is free
        slot.held.append(waiting)

    @staticmethod
    def _write(slot: _Slot, frame: bytes) -> None:
        # If the slot died, wait() sees its EOF and reports the job lost.
        with contextlib.suppress(OSError):
            slot.conn.send_bytes(frame)

    def wait(self, timeout: float) -> list[tuple[JobRecord, Outcome]]:
        if self._failed is not None:
            raise self._failed
        self._kill_ignored_cancels()
        done, self._early = self._early, []
        if done:
            timeout = 0.0
        if not any(s.held or s.waiting for s in self._slots):
            if timeout > 0:
                time.sleep(timeout)
            return done
        kill_at = [r.deadline for r in self.running() if r.stopping and r.deadline is not None]
        if kill_at:
            timeout = max(min(timeout, min(kill_at) - time.monotonic()), 0.0)
        for fd, _ in self._poll.poll(max(timeout, 0.0) * 1000):
            slot = self._by_fd.get(fd)
            if slot is not None:
                self._drain(slot, done, block=True)
        return done

    def _drain(
        self, slot: _Slot, done: list[tuple[JobRecord, Outcome]], *, block: bool = False
    ) -> None:
        """Read the outcomes *slot* has written (the first one even if not yet
        complete when *block*); a dead slot reports its jobs lost."""
        reader = slot.reader
        try:
            if not slot.held and not slot.waiting:
                if block or slot.conn.poll(0):
                    reader.read()  # an idle slot only speaks when it dies
                return
            if block or slot.conn.poll(0):
                reader.read()  # all that has arrived: often several outcomes
            while (slot.held or slot.waiting) and (frame := reader.take()) is not None:
                if frames.is_control(frame):
                    self._heard(slot, frame)
                    continue
                job_id, outcome = frames.decode_outcome(frame)
                if self._many:
                    self._finish_one(slot, job_id, outcome, done)
                else:
                    self._finish_head(slot, outcome, done)
        except (EOFError, OSError):
            self._lost(slot, done)

    @staticmethod
    def _finish_one(
        slot: _Slot, job_id: str, outcome: Outcome, done: list[tuple[JobRecord, Outcome]]
    ) -> None:
        """A job of a slot running several at once ended (in any order)."""
        for running in slot.held:
            if running.job.id == job_id:
                slot.held.remove(running)
                if running.stopping:
                    # Whatever it did once asked to stop, it ends as it was told.
                    if running.stop_outcome is not None:
                        done.append((running.job, running.stop_outcome))
                elif not running.abandoned:
                    done.append((running.job, outcome))
                return

    def _finish_head(
        self, slot: _Slot, outcome: Outcome, done: list[tuple[JobRecord, Outcome]]
    ) -> None:
        head = slot.held.popleft()
        if not head.abandoned:
            done.append((head.job, outcome))
        # Jobs killed before they were written never reach the slot.
        while slot.held and slot.held[0].abandoned and slot.held[0].frame is not None:
            slot.held.popleft()
        if not slot.held:
            return
        nxt = slot.held[0]
        if nxt.abandoned:
            # Killed while it waited in the pipe, and now it starts: stop it (the
            # slot goes with it) rather than let it run unwatched.
            self._restart(slot)
            return
        now = time.monotonic()
        nxt.began, nxt.started = now, True
        nxt.deadline = now + nxt.job.job_timeout if nxt.job.job_timeout else None
        self._begun.append(nxt.job)
        if nxt.frame is not None:
            frame, nxt.frame = nxt.frame, None
            self._write(slot, frame)

    def _restart(self, slot: _Slot) -> None:
        """Kill *slot* (one job at a time) and give the jobs that never started
        to a new one."""
        behind = [r.job for r in list(slot.held)[1:] if not r.abandoned]
        self._retire(slot, kill=True)
        try:
            fresh = self._spawn()
        except WorkerStartupError as error:
            self._failed = self._failed or error
            self._early += [(job, INTERRUPTED) for job in behind]
            return
        for job in behind:
            self._send(fresh, job)

    def _lost(self, slot: _Slot, done: list[tuple[JobRecord, Outcome]]) -> None:
        """The slot died: its running jobs are lost (run again, up to the worker's
        max_lost), the ones behind them never started (given back)."""
        held = list(slot.held)
        status = self._retire(slot, kill=True)
        reason = worker_lost_error(f"the job's process {describe_exit(status)}")
        for running in held:
            if running.stopping:
                if running.stop_outcome is not None:
                    done.append((running.job, running.stop_outcome))
            elif running.abandoned:
                continue
            elif running.started:
                done.append((running.job, Outcome.lost(reason)))
            else:
                done.append((running.job, INTERRUPTED))
        self._respawn()

    def _kill_slot(self, slot: _Slot, *, why: str = "") -> None:
        """Kill a slot running several jobs: the jobs asked to stop end as they
        were told (*why* added), the others go back to their queue (INTERRUPTED:
        the attempt is not counted, they did nothing wrong)."""
        held = list(slot.held)
        self._retire(slot, kill=True)
        for running in held:
            if running.stopping:
                if running.stop_outcome is not None:
                    outcome = running.stop_outcome
                    if why:
                        outcome = dataclasses.replace(outcome, error=(outcome.error or "") + why)
                    self._early.append((running.job, outcome))
            elif not running.abandoned:
                self._early.append((running.job, INTERRUPTED))
        self._respawn()

    def _kill_ignored_cancels(self) -> None:
        """Kill the slots of jobs that did not stop within CANCEL_GRACE."""
        if not self._many:
            return
        now = time.monotonic()
        for slot in list(self._slots):
            if any(r.stopping and r.deadline is not None and now >= r.deadline
                   for r in slot.held):  # fmt: skip
                self._drain(slot, self._early)  # what ended meanwhile stands
                if slot in self._slots and any(r.stopping for r in slot.held):
                    self._kill_slot(slot, why=IGNORED_CANCEL)

    def cancel(self, job_id: str, outcome: Outcome | None) -> bool:
        if not self._many:
            return False  # one job per slot: the caller kills it
        for slot in list(self._slots):
            self._drain(slot, self._early)  # a job that just ended keeps its outcome
            if slot not in self._slots:
                continue
            for running in slot.held:
                if running.job.id != job_id or running.abandoned:
                    continue
                if not running.stopping:
                    running.stopping, running.stop_outcome = True, outcome
                    running.deadline = time.monotonic() + CANCEL_GRACE
                    self._write(slot, frames.encode_cancel(job_id))
                return True
        return False

    def kill(self, job_id: str) -> JobRecord | None:
        for slot in list(self._slots):
            # Outcomes the slot already wrote stand: a job that just ended is not
            # killed (and the job behind it is not cut short) by a late kill.
            self._drain(slot, self._early)
            if slot not in self._slots:
                continue  # it died meanwhile: its jobs were reported
            for index, running in enumerate(slot.held):
                if running.job.id != job_id or running.abandoned:
                    continue
                if self._many:
                    running.abandoned = True  # reported by the caller
                    self._kill_slot(slot)
                elif index == 0:
                    self._restart(slot)
                elif running.frame is not None:
                    slot.held.remove(running)  # never written: simply dropped
                else:
                    # Written but not started, and a pipe cannot be unsent: it is
                    # stopped with its slot if it starts (see _finish_head).
                    running.abandoned = True
                return running.job
        return None

    def kill_all(self) -> list[tuple[JobRecord, Outcome]]:
        done, self._early = self._early, []
        for slot in list(self._slots):
            self._drain(slot, done)
        for slot in list(self._slots):
            if not slot.held:
                continue  # idle: close() lets it run on_shutdown and exit
            for r in slot.held:
                if r.stopping:
                    if r.stop_outcome is not None:
                        done.append((r.job, r.stop_outcome))
                elif not r.abandoned:
                    done.append((r.job, INTERRUPTED))
            self._retire(slot, kill=True)
        return done

    def close(self) -> None:
        for slot in list(self._slots):
            if not slot.held:
                slot.conn.close()  # the slot sees EOF, runs on_shutdown and exits
        wait = 2.0 + (SHUTDOWN_TIMEOUT if self.lifecycle.on_shutdown is not None else 0.0)
        deadline = time.monotonic() + wait
        for slot in list(self._slots):
            if not slot.held:
                while time.monotonic() < deadline:
                    pid, _ = os.waitpid(slot.pid, os.WNOHANG)
                    if pid:
                        break
                    time.sleep(0.005)
                else:
                    kill_group(slot.pid)
                    os.waitpid(slot.pid, 0)
                self._slots.remove(slot)
            else:
                self._retire(slot, kill=True)
        self._by_fd.clear()
