"""The worker: a short loop of claim, execute, settle, with named side tasks.

One orchestrating thread owns the backend connection and every decision;
jobs run in an :class:`~joblane.worker.slots.Executor` (slot processes by
default). Each loop turn:

1. runs the side tasks that are due (lease renewal, scheduler, cron, reaper,
   housekeeping, registration, spool replay);
2. stops jobs past their deadline, canceled, or whose lease was lost;
3. settles finished attempts and claims new jobs in ONE backend call;
4. hands the claimed jobs to free slots;
5. waits for an outcome or for new work.

Shutdown (SIGTERM or SIGINT): no new claims; running jobs get *grace*
seconds; what is left is killed and put back on its queue (the attempt is
not counted). A second signal skips the grace period.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType

from joblane.backends.base import Backend, HandOffOps, WorkerInfo
from joblane.core.identity import Restore
from joblane.core.job import JobRecord
from joblane.core.outcome import (
    DEFAULT_MAX_LOST,
    INTERRUPTED,
    STOPPED,
    Outcome,
    OutcomeKind,
    Settlement,
    Start,
    decide,
    timeout_error,
)
from joblane.core.queues import DEFAULT_QUEUES, priority_order
from joblane.core.states import JobStatus
from joblane.errors import BackendError
from joblane.schedules import Schedule, check_schedules
from joblane.spool import REPLAY_INTERVAL, replay, spool_directory
from joblane.tasks import AllowPolicy
from joblane.worker.batching import plan_batch
from joblane.worker.cron import CRON_INTERVAL, CronScheduler
from joblane.worker.hooks import Callback, Hooks
from joblane.worker.lifecycle import Hook, Lifecycle
from joblane.worker.sidetasks import SideTasks, promote_due, purge_expired, recover_expired
from joblane.worker.slots import Executor, ProcessExecutor
from joblane.worker.thread_executor import ThreadExecutor

log = logging.getLogger("joblane.worker")

DEFAULT_LEASE_SECONDS = 5.0
"""A started job's lease; renewed every fifth of it. A dead worker's jobs are
recovered at most LEASE + RECOVERY_INTERVAL seconds after its last renewal."""
RECOVERY_INTERVAL = 1.0
SCHEDULER_INTERVAL = 0.5
HOUSEKEEPING_INTERVAL = 5.0
REGISTRATION_INTERVAL = 5.0
DEFAULT_GRACE = 30.0
IDLE_WAIT = 0.1
"""Longest single wait when idle, so that signals and timers are served."""
BUSY_POLL = 0.002
"""Wait on slots between checks for new work while some slots are free."""
SETTLE_DELAY = 0.005
"""Outcomes wait at most this long to share a transaction with the next claim."""
RECHECK = 1.0
"""Claim at least this often even when nothing signalled new work."""
BACKEND_RETRY = 1.0
"""Pause after a backend call failed (the backend retried it already) before
the next turn; the outcomes it carried are kept and sent again."""


def default_concurrency() -> int:
    return max(2, os.cpu_count() or 1)


@dataclass(slots=True)
class WorkerStats:
    claimed: int = 0
    finished: int = 0
    failed: int = 0
    retried: int = 0
    lost_leases: int = 0


class Worker:
    """Runs jobs from *queues* (first = highest priority) of *backend*."""

    def __init__(
        self,
        backend: Backend,
        queues: Sequence[str] = DEFAULT_QUEUES,
        *,
        concurrency: int | None = None,
        executor: str | Executor = "process",
        allow: AllowPolicy | None = None,
        name: str | None = None,
        burst: bool = False,
        with_scheduler: bool = True,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        grace: float = DEFAULT_GRACE,
        prefetch: int = 0,
        max_lost: int = DEFAULT_MAX_LOST,
        monotonic: Callable[[], float] = time.monotonic,
        identity: Restore | None = None,
        on_success: Callback | None = None,
        on_failure: Callback | None = None,
        schedules: Sequence[Schedule] = (),
        jobs_per_slot: int = 1,
        on_startup: Hook | None = None,
        on_shutdown: Hook | None = None,
        on_job_start: Hook | None = None,
        on_job_end: Hook | None = None,
    ) -> None:
        self.backend = backend
        self.schedules = check_schedules(schedules)
        """Cron schedules this worker enqueues the ticks of (worker/cron.py)."""
        self.queues = priority_order(queues)
        self.concurrency = concurrency or default_concurrency()
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, not {self.concurrency}")
        self.allow = allow if allow is not None else AllowPolicy()
        if identity is not None and not callable(identity):
            raise ValueError(f"identity must be a restore hook (a callable), not {identity!r}")
        self.identity = identity
        """Restores each job's enqueuer around its attempts (docs/how-to/identity.md);
        without it, a job that has an identity fails."""
        self.hooks = Hooks(on_success, on_failure)
        """Callbacks ``(job, outcome)`` when an attempt ends (worker/hooks.py)."""
        if (
            isinstance(jobs_per_slot, bool)
            or not isinstance(jobs_per_slot, int)
            or (jobs_per_slot < 1)
        ):
            raise ValueError(f"jobs_per_slot must be an int >= 1, not {jobs_per_slot!r}")
        self.jobs_per_slot = jobs_per_slot
        """Jobs each slot runs at once on its event loop (worker/slotprocess.py)."""
        self.lifecycle = Lifecycle(on_startup, on_shutdown, on_job_start, on_job_end)
        """Hooks run in each slot (worker/lifecycle.py), not in this process."""
        if isinstance(executor, str):
            executor = self._make_executor(executor)
        self.executor = executor
        self.name = name or f"{socket.gethostname()}.{os.getpid()}.{secrets.token_hex(2)}"
        self.burst = burst
        self.with_scheduler = with_scheduler
        self.lease_seconds = lease_seconds
        self.grace = grace
        self.prefetch = max(prefetch, 0)
        if isinstance(max_lost, bool) or not isinstance(max_lost, int) or max_lost < 1:
            raise ValueError(f"max_lost must be an int >= 1, not {max_lost!r}")
        self.max_lost = max_lost
        self._monotonic = monotonic
        """The side tasks' clock (a test passes a ManualClock's ``now``)."""
        self.stats = WorkerStats()
        self._ready: deque[JobRecord] = deque()
        self._pending: list[Settlement] = []
        self._starts: dict[str, Start] = {}
        """Starts of jobs claimed ahead, not recorded yet (sent with the next
        claim or settle, unless the job's settlement carries its start)."""
        self._pending_since = 0.0
        self._dispatched: dict[str, float] = {}
        self._avg_run: float | None = None
        self._maybe_work = True
        self._last_claim = 0.0
        self._handoffs = False
        """Whether the backend may hand jobs to this worker (accept_handoffs)."""
        self._unparked = False
        """Taking hand-offs, the last claim took jobs: claim again once idle, to park."""
        self._slot_handoffs: tuple[ProcessExecutor, HandOffOps] | None = None
        """Set when a slot, not this process, waits for the jobs handed: this
        worker's executor and backend, as the types that do it."""
        self._stop_requested = 0
        self._grace_deadline: float | None = None
        self._started = 0.0
        self.spool_dir = spool_directory(backend)
        """Where committed transactions left jobs the backend had not got (replayed)."""
        self.side_tasks = self._side_task_table()

    def _side_task_table(self) -> SideTasks:
        """Everything the worker does besides running jobs, by name (see sidetasks)."""
        table = SideTasks(self._monotonic)
        table.add("renew", self.lease_seconds / 5, self._renew_leases)
        if self.with_scheduler:
            table.add("scheduler", SCHEDULER_INTERVAL, self._schedule)
        if self.schedules:
            self.cron = CronScheduler(self.backend, self.schedules, self.name, self._monotonic)
            table.add("cron", CRON_INTERVAL, self._cron)
        table.add("reaper", RECOVERY_INTERVAL, self._reap)
        table.add("housekeeping", HOUSEKEEPING_INTERVAL, self._housekeeping)
        table.add("registration", REGISTRATION_INTERVAL, self._heartbeat)
        if self.spool_dir is not None:
            table.add("spool", REPLAY_INTERVAL, self._replay_spool)
        return table

    def _make_executor(self, kind: str) -> Executor:
        if kind == "process":
            return ProcessExecutor(
                self.concurrency, self.allow, self.identity,
                lifecycle=self.lifecycle, jobs_per_slot=self.jobs_per_slot,
            )  # fmt: skip
        if kind == "thread":
            capacity = self.concurrency * self.jobs_per_slot
            return ThreadExecutor(capacity, self.allow, self.identity, lifecycle=self.lifecycle)
        raise ValueError(f"unknown executor {kind!r}: expected 'process' or 'thread'")

    # -- life cycle --------------------------------------------------------------

    def run(
        self, *, install_signals: bool = True, on_ready: Callable[[], None] | None = None
    ) -> WorkerStats:
        """Serve the queues until stopped (or, in burst mode, until they are empty).

        *on_ready* is called once the slots are up, before the first claim.
        Raises WorkerStartupError if a slot's ``on_startup`` hook fails (the
        jobs this worker held go back to their queues first).
        """
        if install_signals:
            self._install_signals()
        self._started = self.backend.now()
        check_listen = getattr(self.backend, "check_listen", None)
        if check_listen is not None:
            # A backend whose waits need a session of its own (PostgreSQL's
            # LISTEN) fails here, clearly, rather than never waking.
            check_listen()
        # Start watching before the first claim: a change is reported relative
        # to the previous call, so this call is the baseline.
        self.backend.wait_for_change(0)
        backend, executor = self.backend, self.executor
        slot_handoffs: tuple[ProcessExecutor, HandOffOps] | None = None
        if (isinstance(backend, HandOffOps) and isinstance(executor, ProcessExecutor)
                and not self.burst and self.jobs_per_slot == 1):  # fmt: skip
            executor.handoff = backend.slot_inbox(self.name)  # before the slots fork
            slot_handoffs = (executor, backend)
        try:
            self.executor.start()
        except BaseException:
            self.executor.close()
            raise
        self._register("idle")
        if isinstance(self.backend, HandOffOps) and not self.burst:
            # Jobs may now be handed to this worker when it is idle (Redis: handoff.py).
            self.backend.accept_handoffs(
                self.name, lease_seconds=self.lease_seconds, by_slot=slot_handoffs is not None
            )
            self._handoffs = True
            self._slot_handoffs = slot_handoffs
        if on_ready is not None:
            on_ready()
        log.info(
            "worker %s serving %s with %d slot(s)%s%s",
            self.name, ", ".join(self.queues), self.concurrency,
            f" of {self.jobs_per_slot} jobs" if self.jobs_per_slot > 1 else "",
            " (burst)" if self.burst else "",
        )  # fmt: skip
        try:
            while True:
                try:
                    if not self._turn():
                        break
                except BackendError as exc:
                    # The backend stayed unreachable through its own retries
                    # (Redis restarting): outcomes are kept, try again shortly.
                    log.warning("worker %s: %s; carrying on", self.name, exc)
                    time.sleep(BACKEND_RETRY)
        finally:
            self._shut_down()
        return self.stats

    def stop(self, *, now: bool = False) -> None:
        """Ask the worker to stop (thread-safe); as SIGTERM, or a second one if *now*."""
        self._stop_requested = 2 if now else max(self._stop_requested, 1)

    def _install_signals(self) -> None:
        def handler(signum: int, frame: FrameType | None) -> None:
            self._stop_requested += 1
            how = "at once" if self._stop_requested > 1 else f"within {self.grace:g} s"
            log.warning("worker %s: %s received, stopping %s", self.name,
                        signal.Signals(signum).name, how)  # fmt: skip

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def _end_handoffs(self) -> None:
        """Stopping: nothing more is handed to this worker; what was handed and
        not claimed yet joins the jobs claimed ahead (given back at the end)."""
        if self._handoffs and isinstance(self.backend, HandOffOps):
            self._handoffs = False
            try:
                self._ready.extend(self.backend.end_handoffs(self.name, self.backend.now()))
            finally:
                # Even when that failed (Redis away): a waiting slot is told, else
                # the stop waits for it; what it took before runs, see _stop_done.
                if self._slot_handoffs is not None:
                    self._slot_handoffs[0].stop_waiting()

    def _shut_down(self) -> None:
        try:
            self._end_handoffs()
        except BackendError as exc:
            log.warning("worker %s: %s; its hand-offs are recovered by their leases",
                        self.name, exc)  # fmt: skip
        now = self.backend.now()
        for job, outcome in self.executor.kill_all():
            self._settle_one(job, outcome, now)
        while self._ready:
            self._settle_one(self._ready.popleft(), INTERRUPTED, now)
        self._flush(now)
        self.executor.close()
        self.hooks.close()
        self.backend.unregister_worker(self.name)
        log.info("worker %s stopped: %s", self.name, self.stats)

    # -- one turn of the loop ------------------------------------------------------

    def _turn(self) -> bool:
        """One loop turn; False when the worker should exit."""
        now = self.backend.now()
        if self._stop_requested:
            self._end_handoffs()
            if self._stop_done():
                return False
        self.side_tasks.run_due(now)
        self._enforce_deadlines(now)
        claimed = self._claim_and_settle(now)
        if not self._stop_requested:  # stopping: nothing new starts
            self._dispatch()
        if claimed:
            return True
        idle = (
            not self.executor.running()
            and not self._ready
            and not (self._stop_requested and self._slot_waits())
        )  # stopping, a waiting slot's news is read from the executor
        drained = (
            idle and self.burst and not self._pending
            and not self._maybe_work and not self._stop_requested
        )  # fmt: skip
        if drained and not (self.with_scheduler and self._due_now()):
            # One last look: a settle may just have released or queued jobs.
            if self.backend.wait_for_change(0):
                self._maybe_work = True
                return True
            return False
        self._wait(idle)
        return True

    def _stop_done(self) -> bool:
        """During a shutdown: True once nothing runs, the grace ran out, or a
        second signal came."""
        if self._grace_deadline is None:
            self._grace_deadline = time.monotonic() + self.grace
        return (
            (not self.executor.running() and not self._slot_waits())
            or self._stop_requested > 1
            or time.monotonic() >= self._grace_deadline
        )

    def _slot_waits(self) -> bool:
        """A slot waits for a hand-off (or was told to stop and has not said so)."""
        slots = self._slot_handoffs
        return slots is not None and slots[0].waiting_slot() is not None

    def _schedule(self, now: float) -> float | None:
        """The scheduler: move due jobs to their queues; wake again at the due
        time of the next scheduled job it knows of."""
        if promote_due(self.backend, now):
            self._maybe_work = True
        due = self.backend.next_due()
        return None if due is None else self.side_tasks.clock() + max(due - now, 0.0)

    def _cron(self, now: float) -> float | None:
        """The cron scheduler: enqueue the due ticks; wake again at the next one."""
        enqueued = self.cron.enqueued
        wake = self.cron.run(now)
        self._maybe_work = self._maybe_work or self.cron.enqueued > enqueued
        return wake

    def _reap(self, now: float) -> None:
        """The reaper: settle started jobs whose worker stopped renewing them."""
        # Our own attempts first: after a long backend outage their leases may
        # have lapsed, and the reaper must not take them for lost.
        self._flush(now)
        self._renew_leases(now)
        if recover_expired(self.backend, now, max_lost=self.max_lost):
            self._maybe_work = True

    def _housekeeping(self, now: float) -> None:
        purge_expired(self.backend, now)

    def _replay_spool(self, now: float) -> None:
        try:
            replay(self.backend, self.spool_dir)
        except OSError:
            log.exception("cannot read the spool %s", self.spool_dir)

    def _heartbeat(self, now: float) -> None:
        self._register("busy" if self.executor.running() else "idle")

    def _due_now(self) -> bool:
        due = self.backend.next_due()
        return due is not None and due <= self.backend.now()

    def _claim_and_settle(self, now: float) -> int:
        """Claim what the free slots (and the batch window) can take, settling
        pending outcomes in the same call; otherwise flush outcomes that waited
        long enough. Returns how many jobs were claimed."""
        mono = time.monotonic()
        slots = self._slot_handoffs
        waits = slots is not None and not self._stop_requested and self._tend_waiting_slot(*slots)
        # A waiting slot counts: what is claimed for it makes it stop waiting.
        free = self.executor.free() + int(waits)
        hungry = not self._stop_requested and len(self._ready) < free
        # Once idle, claim to park again; with a slot waiting, as soon as a start
        # is due to be recorded anyway (a short job's settlement carries it).
        due = mono - self._pending_since >= SETTLE_DELAY
        repark = (
            self._unparked and not self._ready
            and (not self.executor.running() or (waits and due and bool(self._starts)))
        )  # fmt: skip
        if hungry and (self._maybe_work or repark or mono - self._last_claim >= RECHECK):
            plan = plan_batch(self._avg_run, self.concurrency * self.jobs_per_slot)
            if self.jobs_per_slot == 1:  # several at a time: the slots' depth is fixed
                self.executor.depth = plan.depth
            want = free + self.prefetch + plan.ahead - len(self._ready)
            # Jobs that go to an idle slot at once begin now; the rest are claimed
            # ahead and their start is recorded when it happens.
            # (A waiting slot too: what it takes makes it stop waiting at once.)
            starting = max(self.executor.idle() + int(waits) - len(self._ready), 0)
            pending, self._pending = self._pending, []
            starts, self._starts = self._starts, {}
            try:
                _, jobs = self.backend.claim(
                    self.queues, worker=self.name, limit=want,
                    lease_seconds=self.lease_seconds, now=now, settle=pending,
                    starts=list(starts.values()), starting=starting,
                )  # fmt: skip
            except BackendError:
                self._pending[:0] = pending  # not recorded: keep them for the next call
                self._starts = starts | self._starts
                raise
            self._last_claim = mono
            self._maybe_work = len(jobs) >= want
            # A claim that took jobs does not park the worker (nor does a hand-off
            # leave it parked): once idle, it claims again, which parks it.
            self._unparked = self._handoffs and bool(jobs)
            self.stats.claimed += len(jobs)
            self._ready.extend(jobs)
            return len(jobs)
        # Outcomes go at once when nothing else is ready to claim for; starts
        # alone wait up to SETTLE_DELAY, so that a short job's start rides with
        # its settlement (one call instead of two, none while its slot begins).
        if (self._pending and (not self._ready or due)) or (self._starts and due):
            self._flush(now)
        return 0

    def _tend_waiting_slot(self, executor: ProcessExecutor, backend: HandOffOps) -> bool:
        """Slot hand-offs: have an idle slot wait for a hand-off once the queues
        were found empty, or have the waiting slot stop when claimed jobs wait
        for a slot. True if a slot waits (and was not told to stop), so that a
        claim parks the worker."""
        if self._ready:
            # The waiting slot is an idle one: it takes a job claimed beyond the
            # other idle slots, rather than the pipe of a busy slot.
            if executor.idle() < len(self._ready):
                executor.stop_waiting()
        elif not self._maybe_work and executor.wait_for_handoff():
            # The last claim found the queues empty: claim now, which parks the worker.
            self._unparked = True
        return self._show_waiting_slot(executor, backend)

    def _show_waiting_slot(self, executor: ProcessExecutor, backend: HandOffOps) -> bool:
        """Tell the backend which slot waits (its news wakes the waits) and
        whether a claim may park; returns the latter."""
        waiting = executor.waiting_slot()
        park = waiting is not None and not waiting[1]
        fd = None if waiting is None else waiting[0]
        backend.slot_waiting(self.name, fd, park=park, took=executor.took)
        return park

    def _flush(self, now: float) -> None:
        if self._pending or self._starts:
            pending, self._pending = self._pending, []
            starts, self._starts = self._starts, {}
            try:
                self.backend.settle(pending, now, list(starts.values()))
            except BackendError:
                self._pending[:0] = pending  # not recorded: keep them for the next call
                self._starts = starts | self._starts
                raise

    def _dispatch(self) -> None:
        while self._ready and self.executor.free() > 0:
            if not self.executor.idle() and self._slot_waits():
                # Not into a busy slot's pipe, behind a job that may be long:
                # the slot told to stop waiting takes it (or took a hand-off).
                break
            job = self._ready.popleft()
            log.info("job %s %s from %s started (attempt %d)",
                     job.id, job.func_name, job.queue, job.attempts)  # fmt: skip
            self._dispatched[job.id] = time.monotonic()
            self.executor.submit(job)
        self._note_starts()

    def _note_starts(self) -> None:
        """Record the start of jobs claimed ahead that began in a slot since the
        last look: the backend learns it with the next claim or settle."""
        if self._slot_handoffs is not None:
            handed = self._slot_handoffs[0].take_handed()
            for job in handed:
                log.info("job %s %s from %s started (attempt %d, handed to a waiting slot)",
                         job.id, job.func_name, job.queue, job.attempts)  # fmt: skip
                self._dispatched[job.id] = time.monotonic()
            if handed:
                self.stats.claimed += len(handed)
                self._unparked = True  # the hand-off ended its parking
        begun = self.executor.take_started()
        if not begun:
            return
        now = self.backend.now()
        for job in begun:
            if job.started is None:
                job.started = now
                if not self._pending and not self._starts:
                    self._pending_since = time.monotonic()
                self._starts[job.id] = Start(job.id, job.lease_token or "", now)

    def _wait(self, idle: bool) -> None:
        slots = self._slot_handoffs
        if idle:
            if slots is not None:
                self._show_waiting_slot(*slots)  # the slot as it is now (one may have died)
            if not self.backend.wait_for_change(min(IDLE_WAIT, self._next_timer())):
                return
            if not self._slot_waits():
                self._maybe_work = True
                return
            timeout = 0.0  # perhaps the waiting slot's news: read it
        elif self.executor.free() > len(self._ready) and not self._stop_requested:
            timeout = BUSY_POLL
        else:
            timeout = min(IDLE_WAIT, self._next_timer())
        results = self.executor.wait(timeout)
        if slots is not None:
            # Woken while a slot waits and it said nothing: a change message.
            self._maybe_work = self._maybe_work or (idle and self._slot_waits())
            self._show_waiting_slot(*slots)
        self._note_starts()
        now = self.backend.now()
        mono = time.monotonic()
        for job, outcome in results:
            began = self._dispatched.pop(job.id, mono)
            run = mono - began
            self._avg_run = run if self._avg_run is None else 0.9 * self._avg_run + 0.1 * run
            self._settle_one(job, outcome, now)
        free = not results and self.executor.free() > 0 and not self._stop_requested
        if free and self.backend.wait_for_change(0):
            self._maybe_work = True

    def _next_timer(self) -> float:
        mono = time.monotonic()
        timers = [self.side_tasks.remaining()]
        deadlines = [r.deadline for r in self.executor.running() if r.deadline is not None]
        if deadlines:
            timers.append(min(deadlines) - mono)
        if self._pending or self._starts:
            timers.append(self._pending_since + SETTLE_DELAY - mono)
        return max(min(timers), 0.0)

    # -- outcomes --------------------------------------------------------------------

    def _settle_one(self, job: JobRecord, outcome: Outcome, now: float) -> None:
        assert job.lease_token is not None
        decided = decide(job, job.lease_token, outcome, now, max_lost=self.max_lost)
        if not self._pending and not self._starts:
            self._pending_since = time.monotonic()
        self._pending.append(decided)
        self._starts.pop(job.id, None)  # the settlement carries the start
        if decided.status is JobStatus.QUEUED:
            self._maybe_work = True  # a retry with no interval is work again
        self._log_end(job, outcome, decided, now)
        self.hooks.ended(job, outcome, decided)

    def _log_end(self, job: JobRecord, outcome: Outcome, decided: Settlement, now: float) -> None:
        took = (now - job.started) * 1000 if job.started is not None else 0.0
        if outcome.kind is OutcomeKind.SUCCEEDED:
            self.stats.finished += 1
            log.info(
                "job %s %s from %s finished in %.1f ms", job.id, job.func_name, job.queue, took
            )
            return
        what = f"job {job.id} {job.func_name} from {job.queue}"
        if outcome.kind is OutcomeKind.INTERRUPTED:
            log.warning("%s interrupted by shutdown after %.1f ms: back on its queue", what, took)
            return
        reason = (outcome.error or "").strip().splitlines()
        last = reason[-1] if reason else ""
        if decided.status in (JobStatus.SCHEDULED, JobStatus.QUEUED):
            self.stats.retried += 1
            delay = (decided.scheduled or now) - now
            log.warning("%s failed in %.1f ms (%s); retry in %g s, %d left",
                        what, took, last, delay, decided.retries_left)  # fmt: skip
        else:
            if decided.status is JobStatus.FAILED:
                self.stats.failed += 1
            log.warning("%s %s in %.1f ms: %s", what, decided.status, took, last)

    def _enforce_deadlines(self, now: float) -> None:
        mono = time.monotonic()
        for running in self.executor.running():
            timeout = running.job.job_timeout
            if running.stopping or not running.started or timeout is None:
                continue
            if running.deadline is not None and mono >= running.deadline:
                cancelled = Outcome.failure(timeout_error(timeout, cancelled=True))
                if self.executor.cancel(running.job.id, cancelled):
                    continue  # ends as cancelled (or killed with its slot) in a later wait
                job = self._kill(running.job.id)
                if job is not None:
                    reason = timeout_error(timeout, killed=self.executor.can_kill)
                    self._settle_one(job, Outcome.failure(reason), now)

    def _kill(self, job_id: str) -> JobRecord | None:
        self._dispatched.pop(job_id, None)
        return self.executor.kill(job_id)

    def _stop(self, job_id: str, outcome: Outcome | None) -> JobRecord | None:
        """Stop a running job that ends as *outcome* (None: not recorded): alone
        if its slot can cancel it (reported by a later wait), else by a kill;
        the job if it is for the caller to settle."""
        if self.executor.cancel(job_id, outcome):
            return None
        return self._kill(job_id)

    def _renew_leases(self, now: float) -> None:
        """Extend the leases of the jobs this worker holds; stop those it lost
        or whose cancellation was asked for."""
        # A job asked to stop is still held (renewed) until it ended, unless its
        # lease is already lost.
        running = [
            r for r in self.executor.running() if not r.stopping or r.stop_outcome is not None
        ]
        held = [r.job for r in running] + list(self._ready)
        if not held:
            return
        leases = [(job.id, job.lease_token or "") for job in held]
        result = self.backend.renew(leases, lease_seconds=self.lease_seconds, now=now)
        for job_id in result.lost:
            # Another worker now owns this job (we were presumed dead): stop
            # running it and report nothing.
            self.stats.lost_leases += 1
            log.warning("job %s: lease lost, abandoning this attempt", job_id)
            self._stop(job_id, None)
            self._ready = deque(j for j in self._ready if j.id != job_id)
        for job_id in result.cancel_requested:
            if self.executor.cancel(job_id, STOPPED):
                continue
            job = self._kill(job_id)
            if job is None:
                job = next((j for j in self._ready if j.id == job_id), None)
                self._ready = deque(j for j in self._ready if j.id != job_id)
            if job is not None:
                self._settle_one(job, STOPPED, now)

    def _register(self, state: str) -> None:
        now = self.backend.now()
        running = tuple(r.job.id for r in self.executor.running())
        self.backend.register_worker(
            WorkerInfo(
                name=self.name, hostname=socket.gethostname(), pid=os.getpid(),
                queues=self.queues, concurrency=self.concurrency,
                started=self._started or now, heartbeat=now,
                expires=now + 3 * REGISTRATION_INTERVAL,
                current_jobs=running, state=state,
            )
        )  # fmt: skip


class WorkerThread:
    """A worker running in a thread of this process, with thread slots.

    For the in-memory backend (collective.taskqueue's local queue) and tests::

        with WorkerThread(backend, ["normal"]) as worker:
            ...
    """

    def __init__(self, backend: Backend, queues: Sequence[str] = DEFAULT_QUEUES,
                 **options: object) -> None:  # fmt: skip
        options.setdefault("executor", "thread")
        self.worker = Worker(backend, queues, **options)  # type: ignore[arg-type]
        self._thread = threading.Thread(
            target=self.worker.run, kwargs={"install_signals": False},
            name=f"joblane-worker-{self.worker.name}", daemon=True,
        )  # fmt: skip

    def start(self) -> WorkerThread:
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 10.0) -> None:
        self.worker.stop()
        self._thread.join(timeout)

    def __enter__(self) -> WorkerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
