"""Where jobs run without processes: threads of the caller's process.

No isolation and no hard timeout (an overrunning job is abandoned and recorded
as timed out, its thread left to finish), but no fork either: for the
in-memory backend's in-process worker (:class:`~joblane.worker.worker.WorkerThread`)
and tests. Coroutine jobs and async lifecycle hooks share one event loop
(:class:`~joblane.worker.loopthread.LoopThread`), as a slot process's jobs
share its loop; the ctx ``on_startup`` filled is shared by every job.
"""

from __future__ import annotations

import inspect
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from joblane.core.identity import Restore
from joblane.core.job import JobRecord
from joblane.core.outcome import INTERRUPTED, Outcome
from joblane.errors import WorkerStartupError
from joblane.tasks import AllowPolicy
from joblane.worker.lifecycle import NO_LIFECYCLE, Lifecycle, hook_name
from joblane.worker.loopthread import LoopThread
from joblane.worker.run import SlotState, job_context, run_job
from joblane.worker.slots import Running


class ThreadExecutor:
    """*capacity* threads in this process (no isolation; see module docstring)."""

    can_kill = False

    def __init__(
        self, capacity: int, allow: AllowPolicy | None, restore: Restore | None = None, *,
        lifecycle: Lifecycle = NO_LIFECYCLE,
    ) -> None:  # fmt: skip
        self.capacity = capacity
        self.depth = 1  # a thread per job: nothing to pipeline
        self.allow = allow
        self.restore = restore
        self.slot = SlotState(lifecycle, {})
        """One ctx and one event loop (:class:`LoopThread`) for all the threads."""
        self._loop = LoopThread()
        self._running: dict[str, Running] = {}
        self._done: queue.Queue[tuple[JobRecord, Outcome]] = queue.Queue()
        self._early: list[tuple[JobRecord, Outcome]] = []
        """Outcomes read while killing, handed over by the next wait()."""
        self._begun: list[JobRecord] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        self._loop.start()
        hook = self.slot.lifecycle.on_startup
        if hook is not None:
            try:
                self._hook(hook)
            except Exception as error:
                self._loop.stop()
                raise WorkerStartupError(
                    f"on_startup hook {hook_name(hook)} raised {type(error).__name__}: {error}"
                ) from error

    def _hook(self, hook: Callable[[dict[str, Any]], Any]) -> None:
        value = hook(self.slot.ctx)
        if inspect.isawaitable(value):
            self._loop.run(value)

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
                              restore=self.restore, slot=self.slot,
                              run_coroutine=self._loop.run)  # fmt: skip
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

    def cancel(self, job_id: str, outcome: Outcome | None) -> bool:
        return False  # a thread cannot be stopped: the caller abandons it

    def close(self) -> None:
        with self._lock:
            self._running.clear()
        hook = self.slot.lifecycle.on_shutdown
        if hook is not None:
            try:
                self._hook(hook)
            except Exception:
                logging.getLogger("joblane.worker").exception(
                    "on_shutdown hook %s raised", hook_name(hook)
                )
        self._loop.stop()
