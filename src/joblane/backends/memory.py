"""The in-memory backend: the reference implementation of the contract.

Volatile and in-process: jobs live in this process's memory and are gone
with it. Thread-safe (one lock), so producers and an in-process worker thread
(``Worker(..., executor="thread")``) may share it, as collective.taskqueue's
local queue does. Use it in tests and for work you can afford to lose.
"""

from __future__ import annotations

import secrets
import threading
from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import replace

from joblane.backends.base import Capabilities, RenewResult, ScheduleInfo, TickClaim, WorkerInfo
from joblane.core import rules
from joblane.core.clock import Clock, SystemClock
from joblane.core.job import JobRecord
from joblane.core.outcome import Settlement, Start
from joblane.core.rules import Dependents, registry_sort_key
from joblane.core.states import LIVE_STATUSES, REGISTRY_STATUSES, JobStatus, Registry
from joblane.errors import DuplicateJobError, NoSuchJobError

__all__ = ["MemoryBackend", "registry_sort_key"]


class MemoryBackend:
    capabilities = Capabilities(persistent=False, shared_between_processes=False)

    def __init__(self, url: str = "memory://", *, clock: Clock | None = None) -> None:
        self.url = url
        self.clock: Clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._version = 0
        self._waiters = threading.local()
        self._jobs: dict[str, JobRecord] = {}
        # A queue holds (job id, push number) entries; only the entry of a job's
        # latest push counts, so a job canceled while queued and then requeued
        # (or replaced) is neither listed twice nor taken at its old place.
        self._queues: dict[str, deque[tuple[str, int]]] = defaultdict(deque)
        self._pushes: dict[str, int] = {}
        self._push_count = 0
        self._dependents: dict[str, set[str]] = defaultdict(set)
        self._workers: dict[str, WorkerInfo] = {}
        self._schedules: dict[str, ScheduleInfo] = {}
        self._ticks: dict[str, float] = {}
        """The latest tick claimed per schedule (kept for good)."""

    # -- reading ---------------------------------------------------------------

    def now(self) -> float:
        return self.clock.now()

    def get(self, job_id: str) -> JobRecord | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return job.copy() if job else None

    def get_many(self, job_ids: Sequence[str]) -> list[JobRecord | None]:
        with self._lock:
            return [(j.copy() if (j := self._jobs.get(i)) else None) for i in job_ids]

    def queue_names(self) -> list[str]:
        with self._lock:
            return sorted({job.queue for job in self._jobs.values()})

    def count(self, queue: str) -> int:
        return self.registry_count_statuses(queue, (JobStatus.QUEUED,))

    def registry_count(self, queue: str, registry: Registry) -> int:
        return self.registry_count_statuses(queue, REGISTRY_STATUSES[registry])

    def registry_count_statuses(self, queue: str, statuses: Iterable[JobStatus]) -> int:
        wanted = set(statuses)
        with self._lock:
            return sum(1 for j in self._jobs.values() if j.queue == queue and j.status in wanted)

    def list_queued(self, queue: str, start: int = 0, limit: int = 100) -> list[JobRecord]:
        with self._lock:
            ids = [e[0] for e in self._queues.get(queue, ()) if self._is_queued(e, queue)]
            return [self._jobs[i].copy() for i in ids[start : start + limit]]

    def list_registry(
        self, queue: str, registry: Registry, start: int = 0, limit: int = 100
    ) -> list[JobRecord]:
        wanted = REGISTRY_STATUSES[registry]
        with self._lock:
            jobs = [j for j in self._jobs.values() if j.queue == queue and j.status in wanted]
        jobs.sort(key=registry_sort_key)
        return [j.copy() for j in jobs[start : start + limit]]

    def workers(self) -> list[WorkerInfo]:
        now = self.now()
        with self._lock:
            return sorted(
                (w for w in self._workers.values() if w.expires > now), key=lambda w: w.name
            )

    def schedules(self) -> list[ScheduleInfo]:
        now = self.now()
        with self._lock:
            return sorted(
                (
                    replace(info, last_tick=self._ticks.get(info.name))
                    for info in self._schedules.values()
                    if info.expires > now
                ),
                key=lambda info: info.name,
            )

    def wait_for_change(self, timeout: float) -> bool:
        with self._changed:
            # "Since the previous call" is per thread: each waiter keeps the
            # version it saw last, so one waiter cannot consume another's change.
            seen = getattr(self._waiters, "seen", self._version)
            changed = self._changed.wait_for(lambda: self._version != seen, timeout=max(timeout, 0))
            self._waiters.seen = self._version
            return changed

    def close(self) -> None:
        pass

    # -- writing ---------------------------------------------------------------

    def _bump(self) -> None:
        self._version += 1
        self._changed.notify_all()

    def _is_queued(self, entry: tuple[str, int], queue: str) -> bool:
        job_id, push = entry
        job = self._jobs.get(job_id)
        return (
            job is not None
            and job.status is JobStatus.QUEUED
            and job.queue == queue
            and self._pushes.get(job_id) == push
        )

    def _push(self, job: JobRecord, *, front: bool = False) -> None:
        self._push_count += 1
        self._pushes[job.id] = self._push_count
        entry = (job.id, self._push_count)
        queue = self._queues[job.queue]
        if job.at_front or front:
            queue.appendleft(entry)
        else:
            queue.append(entry)

    def enqueue(self, jobs: Sequence[JobRecord], *, unique: bool = False) -> list[JobRecord]:
        with self._lock:
            return self._enqueue_locked(jobs, unique)

    def _enqueue_locked(self, jobs: Sequence[JobRecord], unique: bool) -> list[JobRecord]:
        stored: list[JobRecord] = []
        batch: dict[str, JobRecord] = {}
        for job in jobs:
            existing = batch.get(job.id) or self._jobs.get(job.id)
            if existing is not None and existing.status in LIVE_STATUSES:
                if unique:
                    stored.append(existing.copy())
                    continue
                raise DuplicateJobError(job.id)
            for dep in job.depends_on:
                if dep not in batch and dep not in self._jobs:
                    raise NoSuchJobError(dep)
            batch[job.id] = job
            stored.append(job)
        for job in batch.values():
            self._store_new(job.copy())
        self._bump()
        return [self._jobs[j.id].copy() if j.id in batch else j for j in stored]

    def _store_new(self, job: JobRecord) -> None:
        old = self._jobs.get(job.id)
        if old is not None:
            self._forget_dependency_links(old)
        if job.depends_on:
            job = rules.on_enqueue(job, [self._status(d) for d in job.depends_on])
        self._jobs[job.id] = job
        if job.status is JobStatus.DEFERRED:
            for dep in job.depends_on:
                self._dependents[dep].add(job.id)
        elif job.status is JobStatus.QUEUED:
            self._push(job)

    def _status(self, job_id: str) -> JobStatus | None:
        job = self._jobs.get(job_id)
        return None if job is None else job.status

    def _forget_dependency_links(self, job: JobRecord) -> None:
        for dep in job.depends_on:
            self._dependents.get(dep, set()).discard(job.id)

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
        with self._lock:
            self._start_locked(starts)
            flags = self._settle_locked(settle, now)
            claimed: list[JobRecord] = []
            for name in queues:
                queue = self._queues.get(name)
                expired: list[tuple[str, int]] = []
                while queue and len(claimed) < limit:
                    entry = queue.popleft()
                    if not self._is_queued(entry, name):
                        continue
                    job = self._jobs[entry[0]]
                    if job.expires_at is not None and job.expires_at <= now:
                        expired.append(entry)  # skipped, left in place for purge_expired
                        continue
                    del self._pushes[job.id]
                    job.status = JobStatus.STARTED
                    job.started = now if starting is None or len(claimed) < starting else None
                    job.ended = None
                    job.attempts += 1
                    job.worker_name = worker
                    job.lease_token = secrets.token_hex(8)
                    job.lease_expires = now + lease_seconds
                    job.expires_at = None
                    claimed.append(job.copy())
                if queue is not None:
                    queue.extendleft(reversed(expired))
            if any(flags) or claimed:
                self._bump()
            return flags, claimed

    def settle(
        self, settlements: Sequence[Settlement], now: float, starts: Sequence[Start] = ()
    ) -> list[bool]:
        with self._lock:
            self._start_locked(starts)
            flags = self._settle_locked(settlements, now)
            if any(flags):
                self._bump()
            return flags

    def _start_locked(self, starts: Sequence[Start]) -> None:
        for start in starts:
            job = self._jobs.get(start.job_id)
            if (
                job is not None
                and job.status is JobStatus.STARTED
                and job.lease_token == start.token
                and job.started is None
            ):
                job.started = start.started

    def _settle_locked(self, settlements: Sequence[Settlement], now: float) -> list[bool]:
        flags = []
        for s in settlements:
            job = self._jobs.get(s.job_id)
            if job is None or job.status is not JobStatus.STARTED or job.lease_token != s.token:
                flags.append(False)
                continue
            job.status = s.status
            job.ended = s.ended
            job.result = s.result
            job.last_job_result = s.last_job_result
            job.retries_left = s.retries_left
            job.attempts = s.attempts
            job.scheduled = s.scheduled
            job.enqueued = s.enqueued
            job.expires_at = s.expires_at
            job.lost_attempts = s.lost_attempts
            job.lease_token = job.lease_expires = None
            job.cancel_requested = False
            if s.status is JobStatus.QUEUED:
                job.started = None
                job.worker_name = None
                self._push(job, front=s.front)
            elif s.started is not None:
                job.started = s.started
            self._dependents_of_ended(job.id, s.status, now)
            flags.append(True)
        return flags

    def _dependents_of_ended(self, job_id: str, status: JobStatus, now: float) -> None:
        action = rules.on_parent_ended(status)
        if action is Dependents.RELEASE:
            self._release_dependents(job_id, now)
        elif action is Dependents.CANCEL:
            self._cancel_dependents(job_id, now)

    def _release_dependents(self, job_id: str, now: float) -> None:
        for dep_id in sorted(self._dependents.pop(job_id, set())):
            dependent = self._jobs.get(dep_id)
            if dependent is None or dependent.status is not JobStatus.DEFERRED:
                continue
            if rules.released([self._status(d) for d in dependent.depends_on]):
                self._enter_queue(
                    dependent, rules.queue_entry(now, dependent.ttl, dependent.created)
                )

    def _enter_queue(self, job: JobRecord, entry: rules.Entry) -> None:
        job.status = JobStatus.QUEUED
        job.enqueued = entry.enqueued
        job.expires_at = entry.expires_at
        self._push(job)

    @staticmethod
    def _end(job: JobRecord, ending: rules.Ending) -> None:
        job.status = ending.status
        job.ended = ending.ended
        job.expires_at = ending.expires_at

    def _cancel_dependents(self, job_id: str, now: float) -> None:
        pending = [job_id]
        while pending:
            for dep_id in sorted(self._dependents.pop(pending.pop(), set())):
                dependent = self._jobs.get(dep_id)
                if dependent is None or dependent.status is not JobStatus.DEFERRED:
                    continue
                self._end(dependent, rules.dependent_of_failed(dependent, now))
                pending.append(dep_id)

    def renew(
        self, leases: Sequence[tuple[str, str]], *, lease_seconds: float, now: float
    ) -> RenewResult:
        result = RenewResult()
        with self._lock:
            for job_id, token in leases:
                job = self._jobs.get(job_id)
                if job is None or job.status is not JobStatus.STARTED or job.lease_token != token:
                    result.lost.append(job_id)
                    continue
                job.lease_expires = now + lease_seconds
                if job.cancel_requested:
                    result.cancel_requested.append(job_id)
        return result

    def expired_leases(self, now: float, limit: int = 100) -> list[JobRecord]:
        with self._lock:
            jobs = [
                j.copy()
                for j in self._jobs.values()
                if j.status is JobStatus.STARTED
                and j.lease_expires is not None
                and j.lease_expires < now
            ]
        jobs.sort(key=lambda j: (j.lease_expires or 0.0, j.id))
        return jobs[:limit]

    def promote_due(self, now: float, limit: int = 1000) -> int:
        with self._lock:
            due = sorted(
                (
                    j
                    for j in self._jobs.values()
                    if j.status is JobStatus.SCHEDULED
                    and j.scheduled is not None
                    and j.scheduled <= now
                ),
                key=lambda j: (j.scheduled or 0.0, j.id),
            )[:limit]
            for job in due:
                self._enter_queue(job, rules.queue_entry(now, job.ttl, job.created))
            if due:
                self._bump()
            return len(due)

    def next_due(self) -> float | None:
        with self._lock:
            times = [
                j.scheduled
                for j in self._jobs.values()
                if j.status is JobStatus.SCHEDULED and j.scheduled is not None
            ]
        return min(times, default=None)

    def purge_expired(self, now: float, limit: int = 1000) -> int:
        with self._lock:
            gone = [
                j
                for j in self._jobs.values()
                if j.expires_at is not None
                and j.expires_at <= now
                and j.status is not JobStatus.STARTED
            ][:limit]
            for job in gone:
                self._forget_dependency_links(job)
                del self._jobs[job.id]
                self._pushes.pop(job.id, None)
            if gone:
                self._bump()
            return len(gone)

    def cancel(self, job_id: str, now: float) -> JobRecord:
        with self._lock:
            job = self._require(job_id)
            ending = rules.cancel(job, now)
            if ending is None:
                job.cancel_requested = True
            else:
                self._end(job, ending)
                self._dependents_of_ended(job.id, job.status, now)
            self._bump()
            return job.copy()

    def requeue(self, job_id: str, now: float) -> JobRecord:
        with self._lock:
            job = self._require(job_id)
            entry = rules.requeue(job, now)
            job.started = job.ended = job.result = job.worker_name = None
            job.cancel_requested = False
            job.lost_attempts = 0
            self._enter_queue(job, entry)
            self._bump()
            return job.copy()

    def delete(self, job_id: str) -> bool:
        with self._lock:
            job = self._jobs.pop(job_id, None)
            self._pushes.pop(job_id, None)
            if job is None:
                return False
            self._forget_dependency_links(job)
            self._bump()
            return True

    def empty(self, queue: str) -> int:
        with self._lock:
            ids = [e[0] for e in self._queues.pop(queue, deque()) if self._is_queued(e, queue)]
            for job_id in ids:
                del self._jobs[job_id]
                del self._pushes[job_id]
            self._bump()
            return len(ids)

    def save_meta(self, job_id: str, meta: dict[str, object]) -> None:
        with self._lock:
            self._require(job_id).meta = dict(meta)

    def register_worker(self, info: WorkerInfo) -> None:
        with self._lock:
            self._workers[info.name] = info

    def unregister_worker(self, name: str) -> None:
        with self._lock:
            self._workers.pop(name, None)

    def register_schedules(self, infos: Sequence[ScheduleInfo]) -> dict[str, float]:
        with self._lock:
            for info in infos:
                self._schedules[info.name] = replace(info, last_tick=None)
                self._ticks.setdefault(info.name, info.heartbeat)
            return {info.name: self._ticks[info.name] for info in infos}

    def claim_ticks(self, claims: Sequence[TickClaim]) -> list[bool]:
        with self._lock:
            flags = []
            jobs = []
            for claim in claims:
                last = self._ticks.get(claim.schedule)
                if last is not None and claim.tick <= last:
                    flags.append(False)
                    continue
                self._ticks[claim.schedule] = claim.tick
                jobs.append(claim.job)
                flags.append(True)
            if jobs:
                self._enqueue_locked(jobs, unique=True)
            return flags

    def _require(self, job_id: str) -> JobRecord:
        job = self._jobs.get(job_id)
        if job is None:
            raise NoSuchJobError(job_id)
        return job
