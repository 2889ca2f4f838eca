"""The backend contract: what every backend stores, and how atomically.

A backend persists decisions; it does not make them. Every state change it is
asked for arrives decided (by :mod:`joblane.core`), with the ``now`` it
happened at. Each method below states what is atomic and what happens on a
conflict. All backends pass ``tests/contract``.

The contract is synchronous (one I/O model): coroutine jobs and ASGI apps
adapt at their edges. A backend that can also serve async code natively (its
own event-loop I/O instead of a thread per call) implements the optional
:class:`AsyncBackendOps` beside it; the client's async methods use it when
present (``joblane.aclient``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from joblane.core.job import JobRecord
from joblane.core.outcome import Settlement, Start
from joblane.core.states import Registry


@dataclass(frozen=True, slots=True)
class Capabilities:
    """Legitimate differences between backends; tests select on these."""

    persistent: bool
    """Jobs survive the process that enqueued them."""
    shared_between_processes: bool
    """Producers and workers may be separate processes."""
    runs_inline: bool = False
    """Jobs run in the caller at enqueue (the immediate backend)."""


@dataclass(slots=True)
class WorkerInfo:
    """A live worker, as registered and heartbeated by itself."""

    name: str
    hostname: str
    pid: int
    queues: tuple[str, ...]
    concurrency: int
    started: float
    heartbeat: float
    expires: float
    """The worker is presumed gone after this time unless it heartbeats again."""
    current_jobs: tuple[str, ...] = ()
    state: str = "busy"


@dataclass(slots=True)
class RenewResult:
    lost: list[str] = field(default_factory=list)
    """Job ids whose lease this worker no longer holds: stop reporting on them."""
    cancel_requested: list[str] = field(default_factory=list)
    """Job ids (still leased) whose cancellation was asked for: stop them."""


@dataclass(slots=True)
class ScheduleInfo:
    """A cron schedule (:func:`joblane.cron`) as a worker that runs it registers
    it, refreshed each time its scheduler runs; with the last tick claimed."""

    name: str
    func_name: str
    spec: str
    """The cron expression (and weekday condition), as ``str(CronSpec)``."""
    timezone: str
    queue: str
    missed: str
    """The missed-tick policy: ``"skip"`` or ``"run_once"``."""
    next_run: float | None
    """The next tick after the registration (POSIX seconds), None if none."""
    worker: str
    """The worker that registered it last."""
    heartbeat: float
    expires: float
    """Listed until this time unless a worker registers it again."""
    last_tick: float | None = None
    """The latest tick claimed for it, or when it was first registered if no
    tick was claimed since (filled in by :meth:`ReadOnlyBackend.schedules`)."""


@dataclass(frozen=True, slots=True)
class TickClaim:
    """Claim tick *tick* (POSIX seconds) of schedule *schedule* and enqueue *job* for it."""

    schedule: str
    tick: float
    job: JobRecord


@runtime_checkable
class ReadOnlyBackend(Protocol):
    """What a reader (the monitoring API, the CLI's info) may use."""

    url: str
    """The backend's URL for display: no password (:func:`joblane.config.redact_url`)."""
    capabilities: Capabilities

    def now(self) -> float:
        """The backend's notion of the current time (POSIX seconds). Workers
        take every lease and schedule decision against this clock."""
        ...

    def get(self, job_id: str) -> JobRecord | None:
        """The job with this id, or None. Never raises for a missing job."""
        ...

    def get_many(self, job_ids: Sequence[str]) -> list[JobRecord | None]:
        """The jobs with these ids, in order, None where missing (one round-trip)."""
        ...

    def queue_names(self) -> list[str]:
        """Every queue that holds at least one job, sorted by name."""
        ...

    def count(self, queue: str) -> int:
        """How many jobs wait in *queue* (status queued)."""
        ...

    def registry_count(self, queue: str, registry: Registry) -> int:
        """How many jobs of *queue* are in *registry*."""
        ...

    def list_queued(self, queue: str, start: int = 0, limit: int = 100) -> list[JobRecord]:
        """Queued jobs of *queue* in the order a worker will take them."""
        ...

    def list_registry(
        self, queue: str, registry: Registry, start: int = 0, limit: int = 100
    ) -> list[JobRecord]:
        """One page of *registry*, in a stable order (oldest first). Bounded
        work for any page, however large the registry."""
        ...

    def workers(self) -> list[WorkerInfo]:
        """Workers whose registration has not expired, sorted by name."""
        ...

    def schedules(self) -> list[ScheduleInfo]:
        """Cron schedules whose registration has not expired, sorted by name,
        each with the latest tick claimed for it."""
        ...

    def wait_for_change(self, timeout: float) -> bool:
        """Block until jobs may have changed (an enqueue, a settle, ...) or
        *timeout* seconds passed; True if something may have changed. With a
        *timeout* of 0, only check. Spurious wake-ups (True with no change)
        are allowed but must stay rare: a call that changed nothing (a claim
        that took nothing, a settle that applied nothing) must not count as a
        change, or an idle worker would wake itself forever. A missed change is
        not allowed: a change committed since the previous call (on this
        thread), or during this one, makes it return True."""
        ...

    def close(self) -> None:
        """Release connections; the backend is unusable afterwards."""
        ...


@runtime_checkable
class Backend(ReadOnlyBackend, Protocol):
    """The full contract, used by producers and workers."""

    def enqueue(self, jobs: Sequence[JobRecord], *, unique: bool = False) -> list[JobRecord]:
        """Store *jobs* in one atomic step and return them as stored.

        All or nothing: on any error no job of the batch is stored. A job whose
        id a *live* job has (queued, scheduled, deferred, started) raises
        DuplicateJobError, unless *unique*, which returns the live job instead.
        An ended job with the same id is replaced. A queued job with
        ``depends_on`` is stored as deferred while one of them has not finished,
        as canceled if one failed, was stopped or canceled, and raises
        NoSuchJobError if one does not exist. When this returns, the jobs are
        durable to the backend's stated level.
        """
        ...

    def claim(
        self,
        queues: Sequence[str],
        *,
        worker: str,
        limit: int,
        lease_seconds: float,
        now: float,
        settle: Sequence[Settlement] = (),
        starts: Sequence[Start] = (),
        starting: int | None = None,
    ) -> tuple[list[bool], list[JobRecord]]:
        """Apply *settle* and *starts* (as :meth:`settle`), then take up to
        *limit* queued jobs, in one atomic step: all of the first queue before
        any of the second, and so on; FIFO within a queue (``at_front`` and
        jobs given back first). Queued jobs past their ttl are skipped. Each
        taken job becomes started, with ``attempts`` incremented, ``ended``
        cleared, ``worker_name`` set and a new lease (``lease_token``,
        ``lease_expires = now + lease_seconds``). The first *starting* taken
        jobs (all if None) begin now: ``started = now``; the others are claimed
        ahead of their start and keep ``started`` None until a :class:`Start`
        or a settlement records it, so that a job whose worker died before it
        began is given back rather than counted as lost. Two concurrent claims
        never take the same job. Returns the settle flags and the claimed jobs
        in priority order."""
        ...

    def settle(
        self, settlements: Sequence[Settlement], now: float, starts: Sequence[Start] = ()
    ) -> list[bool]:
        """Record the end of attempts, atomically as one batch.

        Each applies only if the job is still started under the settlement's
        token, otherwise it is ignored and its flag is False (a newer attempt
        owns the job). Applying one sets every field the Settlement carries
        (``started`` only when given and the status is not queued; a queued job
        loses its start and worker, and goes first in its queue if ``front``,
        else last unless it is ``at_front``) and moves its deferred dependents:
        to queued when all their dependencies finished, to canceled
        (recursively) when it failed for good or was stopped.

        Each of *starts* (applied in the same step, before the settlements)
        records when a claimed job began, if it is still started under that
        token and its start is not recorded yet; it changes nothing else and
        wakes no one."""
        ...

    def renew(
        self, leases: Sequence[tuple[str, str]], *, lease_seconds: float, now: float
    ) -> RenewResult:
        """Extend the leases ``(job_id, token)`` still held to ``now + lease_seconds``."""
        ...

    def expired_leases(self, now: float, limit: int = 100) -> list[JobRecord]:
        """Started jobs whose lease lapsed before *now* (their worker is
        presumed dead). The caller settles them with their own token, so two
        recovering workers settle each at most once; a job whose ``started``
        is None had not begun (it waited in its worker's batch)."""
        ...

    def promote_due(self, now: float, limit: int = 1000) -> int:
        """Move scheduled jobs due at or before *now* to their queues (queued,
        ``enqueued = now``), at most *limit*, atomically; returns how many.
        Each due job is promoted exactly once however many callers race."""
        ...

    def next_due(self) -> float | None:
        """The earliest time a scheduled job becomes due, or None."""
        ...

    def purge_expired(self, now: float, limit: int = 1000) -> int:
        """Delete up to *limit* jobs whose ``expires_at`` passed: ended jobs past
        their result or failure TTL, queued jobs past their ttl. Returns how many."""
        ...

    def cancel(self, job_id: str, now: float) -> JobRecord:
        """Cancel a job: queued, scheduled or deferred become canceled at once
        (and their deferred dependents too); a started job gets
        ``cancel_requested`` and its worker stops it (it becomes stopped).
        Raises NoSuchJobError, or InvalidStateError for an ended job."""
        ...

    def requeue(self, job_id: str, now: float) -> JobRecord:
        """Put a failed, canceled or stopped job back on its queue (queued,
        ``enqueued = now``, result, lease and ``lost_attempts`` cleared).
        Raises NoSuchJobError or InvalidStateError."""
        ...

    def delete(self, job_id: str) -> bool:
        """Remove a job whatever its state; False if there was none. A started
        job's worker finds its lease gone and records nothing."""
        ...

    def empty(self, queue: str) -> int:
        """Delete every queued job of *queue*; returns how many."""
        ...

    def save_meta(self, job_id: str, meta: dict[str, object]) -> None:
        """Replace the job's meta. Raises NoSuchJobError."""
        ...

    def register_worker(self, info: WorkerInfo) -> None:
        """Create or refresh a worker's registration (a heartbeat)."""
        ...

    def unregister_worker(self, name: str) -> None:
        """Remove a worker's registration."""
        ...

    def register_schedules(self, infos: Sequence[ScheduleInfo]) -> dict[str, float]:
        """Create or refresh the registration of each schedule (by name: the
        latest registration wins); returns the latest tick claimed for each.
        A schedule registered for the first time starts at its ``heartbeat``:
        that time is stored as its latest tick (so it fires from its next tick
        on, and a tick before it counts as claimed). A registration lapses at
        its ``expires``; the latest tick never does."""
        ...

    def claim_ticks(self, claims: Sequence[TickClaim]) -> list[bool]:
        """Claim cron ticks and enqueue their jobs, in one atomic step.

        Claims apply in order. One applies only if its tick is later than the
        latest tick claimed for its schedule (any tick, if none was): the tick
        becomes the latest, and its job is stored as :meth:`enqueue` stores it
        with ``unique=True``. Otherwise nothing of it is stored and its flag is
        False. The latest claimed tick is kept for good (past the job's end and
        its TTLs), so that however many workers race, and whenever they start
        or stop, a tick is enqueued at most once. Returns a flag per claim."""
        ...


@runtime_checkable
class AsyncBackendOps(Protocol):
    """The few calls async producers make, awaited on the caller's event loop.

    Optional: a backend implements these when it can do their I/O without
    blocking the loop (Redis, through ``redis.asyncio``); for any other,
    ``joblane.aclient`` runs the sync method on a thread. Each one stores and
    reads exactly what its sync counterpart does, with the same atomicity,
    conflicts, errors and bounded waits: an enqueue done through one is
    indistinguishable from one done through the other, and a caller may mix
    them on one backend object (an enqueue whose outcome was unknown through
    one is recognised when retried through the other). They may be awaited
    from any number of event loops (in turn or at once, in threads) and after
    ``os.fork()``; a backend keeps its loop-bound connections per loop and
    per process. Cancelling the await leaves the backend usable; a cancelled
    ``aenqueue`` is as one whose reply was lost (it may have stored the jobs).
    """

    async def aenqueue(self, jobs: Sequence[JobRecord], *, unique: bool = False) -> list[JobRecord]:
        """:meth:`Backend.enqueue`: one atomic step, all or nothing, the same
        DuplicateJobError / NoSuchJobError, and EnqueueOutcomeUnknownError (with
        the same recognition of the retry) when the outcome is unknown."""
        ...

    async def aget(self, job_id: str) -> JobRecord | None:
        """:meth:`ReadOnlyBackend.get`."""
        ...

    async def aget_many(self, job_ids: Sequence[str]) -> list[JobRecord | None]:
        """:meth:`ReadOnlyBackend.get_many` (one round trip)."""
        ...

    async def await_end(self, job_id: str, timeout: float) -> JobRecord | None:
        """The job once it has ended (its status in
        :data:`~joblane.core.states.ENDED_STATUSES`), or as it is when
        *timeout* seconds passed (0: read it once); None if there is no such
        job. No change is missed: an end committed before the call, or during
        it, is returned. Wakes on changes (no polling loop); a spurious
        wake-up costs one read."""
        ...


@runtime_checkable
class SlotHandOff(Protocol):
    """A worker's hand-off inbox as one of its slot processes waits on it: the
    slot waits, reads the job handed, and tells the worker before it runs it
    (worker/slots.py). :meth:`decode` is used on both sides."""

    def wait(self) -> int | None:
        """Begin to wait; the file descriptor that becomes readable when a job
        (or the end of the wait) comes, or None if the wait could not begin."""
        ...

    def unwait(self) -> bool:
        """End the wait soon: :meth:`read` then returns what came first, a job
        or None. False if that failed (the wait is then over, with nothing)."""
        ...

    limit: float
    """Seconds after which a wait that brought nothing is given up (:meth:`abandon`)."""

    def read(self) -> bytes | None:
        """The job handed (an entry for :meth:`decode`), or None: the wait ended."""
        ...

    def abandon(self) -> None:
        """Give up a wait that brought nothing within :attr:`limit`."""
        ...

    def decode(self, entry: bytes) -> JobRecord:
        """The job of an entry (CorruptRecordError or ValueError if it does not decode)."""
        ...


@runtime_checkable
class HandOffOps(Protocol):
    """Jobs handed to an idle worker by their enqueue, without a claim.

    Optional (Redis: ``backends/redis/handoff.py``). After
    :meth:`accept_handoffs`, a claim of *worker* that takes nothing while it
    has an idle slot may lease the next job of its queues to it at that job's
    enqueue; :meth:`Backend.wait_for_change` then returns when one is handed,
    and the worker's next :meth:`Backend.claim` returns it (begun, under a
    lease of its own, as a claimed job). A worker that dies holding one gets
    it recovered by its lease, as any claimed job; one it never read is given
    back without counting an attempt.
    """

    def accept_handoffs(self, worker: str, *, lease_seconds: float, by_slot: bool = False) -> None:
        """Let jobs be handed to *worker* (by the name it claims under), each
        leased for *lease_seconds*. With *by_slot*, a slot process waits for
        them (:meth:`slot_inbox`), and the worker parks only while one does
        (:meth:`slot_waiting`)."""
        ...

    def slot_inbox(self, worker: str) -> SlotHandOff:
        """What a slot process of *worker* waits on for the jobs handed to it
        (made before the slots fork; used in them)."""
        ...

    def slot_waiting(self, worker: str, fd: int | None, *, park: bool, took: int = 0) -> None:
        """A slot of *worker* waits for a hand-off, and *fd* (its pipe) brings
        its news to :meth:`Backend.wait_for_change` (None: none waits); a
        claim parks the worker only with *park* (the slot was not told to stop),
        and not if a job was handed to it that its slots had not said they took
        (*took*: how many they said so in all)."""
        ...

    def end_handoffs(self, worker: str, now: float) -> list[JobRecord]:
        """No job is handed to *worker* after this returns; the jobs handed to
        it and not yet claimed (leased to it: the caller settles them)."""
        ...
