"""Where jobs run: long-lived slot processes (the default) or threads.

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

Threads (``executor="thread"``) share the caller's process: no isolation and
no hard timeout (an overrunning job is abandoned and recorded as timed out,
its thread left to finish), but no fork either. They are for the in-memory
backend's in-process worker and for tests.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import queue
import select
import signal
import socket
import struct
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Protocol

import orjson

from joblane.core.identity import Restore, identity_from_data
from joblane.core.job import JobRecord
from joblane.core.outcome import INTERRUPTED, Outcome, OutcomeKind, worker_lost_error
from joblane.tasks import AllowPolicy
from joblane.worker.run import JobContext, job_context, run_job


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

    def kill_all(self) -> list[tuple[JobRecord, Outcome]]:
        """Stop every slot now. Returns the outcome of each job they held: the
        real one if it ended before the kill, else INTERRUPTED."""
        ...

    def close(self) -> None:
        """Stop every slot; running jobs are killed."""
        ...


# -- the wire format between the worker and its slot processes ---------------

_SEP = b"\x00"
_TIME = struct.Struct("<d")
"""The enqueue time, packed (NaN for none): text would cost a float repr per job."""


def _encode_job(job: JobRecord) -> bytes:
    """``id, queue, func_name, attempt, extra`` NUL-separated, a NUL, then the
    enqueue time (8 bytes) and the payload. *extra* is empty for a job without
    meta or identity (the usual one), else the JSON ``[meta, enqueued_by]``
    (JSON never holds a raw NUL)."""
    meta, by, enqueued = job.meta, job.enqueued_by, job.enqueued
    extra = b"" if not meta and by is None else orjson.dumps((meta, by and by.to_json()))
    return b"%s\0%s\0%s\0%d\0%s\0%s%s" % (
        job.id.encode(), job.queue.encode(), job.func_name.encode(), job.attempts, extra,
        _TIME.pack(math.nan if enqueued is None else enqueued), job.payload,
    )  # fmt: skip


def _decode_job(frame: bytes) -> tuple[JobContext, bytes]:
    job_id, queue_name, func_name, attempt, extra, rest = frame.split(_SEP, 5)
    (enqueued,) = _TIME.unpack_from(rest)
    if extra:
        meta, by = orjson.loads(extra)
        identity = None if by is None else identity_from_data(by)
    else:
        meta, identity = {}, None
    context = JobContext(
        job_id.decode(), queue_name.decode(), func_name.decode(), int(attempt), meta,
        None if enqueued != enqueued else enqueued, identity,  # NaN: none
    )  # fmt: skip
    return context, rest[_TIME.size :]


def _encode_outcome(outcome: Outcome) -> bytes:
    if outcome.kind is OutcomeKind.SUCCEEDED:
        return b"S" + (outcome.result or b"null")
    if outcome.defer is not None:  # R, the delay (a double), the reason
        return b"R" + _TIME.pack(outcome.defer) + (outcome.error or "").encode("utf-8", "replace")
    return (b"F1" if outcome.retryable else b"F0") + (outcome.error or "").encode(
        "utf-8", "replace"
    )


def _decode_outcome(frame: bytes) -> Outcome:
    if frame[:1] == b"S":
        return Outcome.success(frame[1:])
    if frame[:1] == b"R":
        (defer,) = _TIME.unpack_from(frame, 1)
        return Outcome.retry_in(defer, frame[1 + _TIME.size :].decode("utf-8", "replace"))
    return Outcome.failure(frame[2:].decode("utf-8", "replace"), retryable=frame[1:2] == b"1")


# -- slot processes ------------------------------------------------------------

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this process when the worker dies (kill -9 included)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _ignore(signum: int, frame: object) -> None:
    pass


def _slot_main(conn: Connection, allow: AllowPolicy, parent: int, restore: Restore | None) -> None:
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
    while True:
        try:
            frame = conn.recv_bytes()
        except (EOFError, OSError):
            break
        context, payload = _decode_job(frame)
        outcome = run_job(context.func_name, payload, allow, context, restore=restore)
        try:
            conn.send_bytes(_encode_outcome(outcome))
        except OSError:
            break
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()


@dataclass(slots=True)
class _Slot:
    pid: int
    conn: Connection
    held: deque[Running] = field(default_factory=deque)
    """The running job first, then those waiting in the pipe."""


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
    """*capacity* slot processes, forked once and reused (see module docstring)."""

    can_kill = True

    def __init__(self, capacity: int, allow: AllowPolicy, restore: Restore | None = None) -> None:
        self.capacity = capacity
        self.allow = allow
        self.restore = restore
        """Inherited by each slot at its fork (never pickled)."""
        self.depth = 1
        self._early: list[tuple[JobRecord, Outcome]] = []
        """Outcomes read while killing, handed over by the next wait()."""
        self._begun: list[JobRecord] = []
        self._slots: list[_Slot] = []
        self._by_fd: dict[int, _Slot] = {}
        # One poll object for the life of the executor, not a selector per wait.
        self._poll = select.poll()

    def start(self) -> None:
        for _ in range(self.capacity):
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
                _slot_main(Connection(child_sock.detach()), self.allow, parent, self.restore)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        child_sock.close()
        slot = _Slot(pid, Connection(parent_sock.detach()))
        self._slots.append(slot)
        self._by_fd[slot.conn.fileno()] = slot
        self._poll.register(slot.conn.fileno(), select.POLLIN)
        return slot

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
        return sum(max(self.depth - len(s.held), 0) for s in self._slots)

    def idle(self) -> int:
        return sum(1 for s in self._slots if not s.held)

    def take_started(self) -> list[JobRecord]:
        begun, self._begun = self._begun, []
        return begun

    def running(self) -> list[Running]:
        return [r for s in self._slots for r in s.held if not r.abandoned]

    def submit(self, job: JobRecord) -> None:
        self._send(min(self._slots, key=lambda s: len(s.held)), job)

    def _send(self, slot: _Slot, job: JobRecord) -> None:
        frame = _encode_job(job)
        now = time.monotonic()
        if not slot.held:
            if slot.conn.poll(0):
                # An idle slot only speaks when it died (the OOM killer, say):
                # replace it rather than charge its death to this job.
                self._retire(slot, kill=True)
                slot = self._spawn()
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
        done, self._early = self._early, []
        if done:
            timeout = 0.0
        if not any(s.held for s in self._slots):
            if timeout > 0:
                time.sleep(timeout)
            return done
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
        try:
            if not slot.held:
                if block or slot.conn.poll(0):
                    slot.conn.recv_bytes()  # an idle slot only speaks when it dies
                return
            while slot.held and (block or slot.conn.poll(0)):
                block = False
                self._finish_head(slot, _decode_outcome(slot.conn.recv_bytes()), done)
        except (EOFError, OSError):
            self._lost(slot, done)

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

    def _restart(self, slot: _Slot) -> _Slot:
        """Kill *slot* and give the jobs that never started to a new one."""
        behind = [r.job for r in list(slot.held)[1:] if not r.abandoned]
        self._retire(slot, kill=True)
        fresh = self._spawn()
        for job in behind:
            self._send(fresh, job)
        return fresh

    def _lost(self, slot: _Slot, done: list[tuple[JobRecord, Outcome]]) -> None:
        """The slot died: its running job is lost (run again, up to the worker's
        max_lost), the ones behind it never started (given back)."""
        held = list(slot.held)
        status = self._retire(slot, kill=True)
        self._spawn()
        for index, running in enumerate(held):
            if running.abandoned:
                continue
            if index == 0:
                reason = worker_lost_error(f"the job's process {describe_exit(status)}")
                done.append((running.job, Outcome.lost(reason)))
            else:
                done.append((running.job, INTERRUPTED))

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
                if index == 0:
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
            done += [(r.job, INTERRUPTED) for r in slot.held if not r.abandoned]
            self._retire(slot, kill=True)
        return done

    def close(self) -> None:
        for slot in list(self._slots):
            if not slot.held:
                slot.conn.close()  # the slot sees EOF and exits
        deadline = time.monotonic() + 2.0
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


class ThreadExecutor:
    """*capacity* threads in this process (no isolation; see module docstring)."""

    can_kill = False

    def __init__(
        self, capacity: int, allow: AllowPolicy | None, restore: Restore | None = None
    ) -> None:
        self.capacity = capacity
        self.depth = 1  # a thread per job: nothing to pipeline
        self.allow = allow
        self.restore = restore
        self._running: dict[str, Running] = {}
        self._done: queue.Queue[tuple[JobRecord, Outcome]] = queue.Queue()
        self._early: list[tuple[JobRecord, Outcome]] = []
        """Outcomes read while killing, handed over by the next wait()."""
        self._begun: list[JobRecord] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        pass

    def free(self) -> int:
        with self._lock:
            return self.capacity - len(self._running)

    def idle(self) -> int:
        return self.free()

    def take_started(self) -> list[JobRecord]:
        begun, self._begun = self._begun, []
        return begun

    def running(self) -> list[Running]:
        with self._lock:
            return list(self._running.values())

    def submit(self, job: JobRecord) -> None:
        now = time.monotonic()
        deadline = now + job.job_timeout if job.job_timeout else None
        with self._lock:
            self._running[job.id] = Running(job, now, deadline)
        self._begun.append(job)
        context = job_context(job)

        def target() -> None:
            outcome = run_job(job.func_name, job.payload, self.allow, context,
                              restore=self.restore)  # fmt: skip
            self._done.put((job, outcome))

        threading.Thread(target=target, name=f"joblane-job-{job.id}", daemon=True).start()

    def wait(self, timeout: float) -> list[tuple[JobRecord, Outcome]]:
        done, self._early = self._early, []
        return done + self._collect(0.0 if done else timeout)

    def _collect(self, timeout: float) -> list[tuple[JobRecord, Outcome]]:
        ready: list[tuple[JobRecord, Outcome]] = []
        try:
            ready.append(
                self._done.get(timeout=timeout) if timeout > 0 else self._done.get_nowait()
            )
            while True:
                ready.append(self._done.get_nowait())
        except queue.Empty:
            pass
        done = []
        with self._lock:
            for job, outcome in ready:
                current = self._running.get(job.id)
                # A job abandoned by kill() (timeout, cancel) reports nothing.
                if current is not None and current.job.lease_token == job.lease_token:
                    del self._running[job.id]
                    done.append((job, outcome))
        return done

    def kill(self, job_id: str) -> JobRecord | None:
        # An outcome already returned stands: a job that just ended is not killed.
        self._early += self._collect(0.0)
        with self._lock:
            running = self._running.pop(job_id, None)
        return running.job if running else None

    def kill_all(self) -> list[tuple[JobRecord, Outcome]]:
        done = self.wait(0)
        with self._lock:
            # Threads cannot be stopped: they run on, and their outcomes are dropped.
            done += [(r.job, INTERRUPTED) for r in self._running.values()]
            self._running.clear()
        return done

    def close(self) -> None:
        with self._lock:
            self._running.clear()
