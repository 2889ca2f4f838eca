"""RedisBackend: the contract of ``joblane.backends.base`` on one Redis server.

Every contract method is one round trip: one script (scripts/*.lua) or one
pipeline of reads. See the package docstring for the URL form, durability,
time, eviction and connection loss, and keys.py for the key layout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import orjson
import redis
import redis.asyncio as aredis

from joblane.backends.base import Capabilities, RenewResult, ScheduleInfo, TickClaim, WorkerInfo
from joblane.backends.decoding import (
    failed_settlement,
    live_schedules,
    live_workers,
    recoverable,
    report_failed,
    schedule_info,
)
from joblane.backends.encoding import meta_json, schedule_fields
from joblane.backends.redis.aio import AsyncConnection
from joblane.backends.redis.connection import DEFAULT_RETRY_FOR, Connection, RedisClock
from joblane.backends.redis.handoff import PARK_SECONDS, Inbox, SlotInbox
from joblane.backends.redis.keys import DEFAULT_PREFIX, Keys
from joblane.backends.redis.layout import check_layout
from joblane.backends.redis.loader import Scripts
from joblane.backends.redis.records import (
    Arg,
    batch_args,
    decode_job,
    job_fields,
    job_record,
    job_records,
    settlement_args,
    worker_info,
    worker_json,
)
from joblane.backends.redis.unanswered import Unanswered
from joblane.backends.redis.watch import ChangeListener
from joblane.config import redact_url
from joblane.core import rules
from joblane.core.clock import Clock
from joblane.core.job import JobRecord
from joblane.core.outcome import Settlement, Start
from joblane.core.states import ENDED_STATUSES, Registry
from joblane.errors import (
    BackendError,
    CorruptRecordError,
    DuplicateJobError,
    EnqueueOutcomeUnknownError,
    NoSuchJobError,
)

log = logging.getLogger("joblane.backends")


class RedisBackend:
    """Jobs in one Redis database, shared by every process on every machine that opens it.

    *url*: ``redis://``, ``rediss://`` or ``unix://`` as redis-py reads it,
    without joblane's own options (:func:`joblane.backends.redis.from_url`
    takes those out). *prefix*: the start of every key. *retry_for*: seconds
    a call may take, retrying while Redis is unreachable, before BackendError.
    *allow_eviction*: accept a maxmemory-policy that may evict keys (logged).
    *clock*: a clock instead of Redis time (tests). Thread-safe.
    """

    capabilities = Capabilities(persistent=True, shared_between_processes=True)

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        retry_for: float = DEFAULT_RETRY_FOR,
        allow_eviction: bool = False,
        clock: Clock | None = None,
        options: dict[str, Any] | None = None,
        display_url: str | None = None,
    ) -> None:
        self.prefix = prefix
        self.keys = Keys(prefix)
        self._scripts = scripts = Scripts.current()
        self._conn = Connection(url, dict(options or {}), retry_for=retry_for)
        self.url = redact_url(display_url or url)
        self._origin = secrets.token_hex(6)
        self._head: list[Arg] = [prefix, self._origin]
        self._redis_clock = RedisClock(self._conn)
        self.clock: Clock = clock or self._redis_clock
        self._conn.check_server(allow_eviction=allow_eviction)

        def connect(client: redis.Redis, attempt: int) -> None:
            check_layout(client, self.keys, self._conn.display_url)
            scripts.load(client)
            lane = self._conn.lane(client)
            if lane is not None:
                lane.connect()  # this thread's calls go out at once (its set-up now)
            if clock is None:
                self._redis_clock.sync(client)

        try:
            self._conn.call(connect, "loading the scripts")
        except BaseException:
            self._conn.close()  # a refused layout (SchemaVersionError) leaves no socket open
            raise
        self._changes = ChangeListener(lambda: self._conn.client, self.keys.changes, self._origin)
        self._aio = AsyncConnection(self._conn, self.keys.changes)
        # Claims of each worker whose reply was lost (claim.lua replays them).
        self._lost_claims: dict[str, list[str]] = {}
        self._lost_lock = threading.Lock()
        # Jobs of enqueues whose reply was lost (their retry is recognised).
        self._unanswered = Unanswered()
        # The workers of this object that take hand-offs (handoff.py), by name.
        self._inboxes: dict[str, Inbox] = {}
        self.closed = False
        """True once :meth:`close` was called (``config.shared_backend`` replaces it)."""

    def __repr__(self) -> str:
        return f"RedisBackend({self._conn.display_url!r}, prefix={self.prefix!r})"

    def _script(self, client: redis.Redis, name: str, args: list[Arg]) -> Any:
        """Call script *name* on *client*, on this thread's own connection
        when *client* is the main one (Connection.lane)."""
        return self._scripts.run(client, name, args, self._conn.lane(client))

    def _run(self, name: str, args: list[Arg], what: str = "") -> Any:
        head = self._head
        return self._conn.call(
            lambda client, attempt: self._script(client, name, [*head, *args]), what or name
        )

    # -- reading ---------------------------------------------------------------

    def now(self) -> float:
        return self.clock.now()

    def get(self, job_id: str) -> JobRecord | None:
        (flat,) = self._conn.call(lambda c, a: _hashes(c, [self.keys.job(job_id)]), "get")
        return job_record(job_id, flat) if flat != [] else None

    def get_many(self, job_ids: Sequence[str]) -> list[JobRecord | None]:
        if not job_ids:
            return []

        keys = [self.keys.job(job_id) for job_id in job_ids]
        hashes = self._conn.call(lambda c, a: _hashes(c, keys), "get_many")
        return [
            job_record(job_id, h) if h != [] else None
            for job_id, h in zip(job_ids, hashes, strict=True)
        ]

    def queue_names(self) -> list[str]:
        return [name.decode() for name in self._run("queue_names", [])]

    def count(self, queue: str) -> int:
        counted = self._conn.call(lambda c, a: c.hget(self.keys.qcount, queue), "count")
        return max(int(counted or 0), 0)

    def registry_count(self, queue: str, registry: Registry) -> int:
        key = self.keys.registry(queue, registry)
        return int(self._conn.call(lambda c, a: c.zcard(key), "registry_count"))

    def list_queued(self, queue: str, start: int = 0, limit: int = 100) -> list[JobRecord]:
        return job_records(self._run("list_jobs", ["queue", queue, max(start, 0), max(limit, 0)]))

    def list_registry(
        self, queue: str, registry: Registry, start: int = 0, limit: int = 100
    ) -> list[JobRecord]:
        key = self.keys.registry(queue, registry, prefixed=False)
        return job_records(self._run("list_jobs", ["zset", key, max(start, 0), max(limit, 0)]))

    def workers(self) -> list[WorkerInfo]:
        raw = self._conn.call(lambda c, a: c.hvals(self.keys.workers), "workers")
        now = self.now()
        infos = live_workers(raw, worker_info)
        return sorted((w for w in infos if w.expires > now), key=lambda w: w.name)

    def schedules(self) -> list[ScheduleInfo]:
        def read(client: redis.Redis, attempt: int) -> list[Any]:
            pipe = client.pipeline(transaction=False)
            pipe.hvals(self.keys.schedules)
            pipe.hgetall(self.keys.ticks)
            return pipe.execute()

        raw, ticks = self._conn.call(read, "schedules")
        now = self.now()
        infos = live_schedules(raw, partial(_schedule_info, ticks=ticks))
        return [info for info in infos if info.expires > now]

    def wait_for_change(self, timeout: float) -> bool:
        return self._changes.wait(timeout)

    def close(self) -> None:
        self.closed = True
        for inbox in list(self._inboxes.values()):
            inbox.close_quietly()
        self._changes.close()
        self._aio.close()
        self._conn.close()

    # -- reading and waiting from async code (aio.py) ----------------------------

    async def aget(self, job_id: str) -> JobRecord | None:
        """:meth:`get` through ``redis.asyncio``."""
        (flat,) = await self._aio.call(lambda c, a: _ahashes(c, [self.keys.job(job_id)]), "get")
        return job_record(job_id, flat) if flat != [] else None

    async def aget_many(self, job_ids: Sequence[str]) -> list[JobRecord | None]:
        """:meth:`get_many` through ``redis.asyncio``."""
        if not job_ids:
            return []
        keys = [self.keys.job(job_id) for job_id in job_ids]
        hashes = await self._aio.call(lambda c, a: _ahashes(c, keys), "get_many")
        return [
            job_record(job_id, h) if h != [] else None
            for job_id, h in zip(job_ids, hashes, strict=True)
        ]

    async def await_end(self, job_id: str, timeout: float) -> JobRecord | None:
        """The job once it ended, or as it is after *timeout* seconds (None if
        there is none): woken by the change messages, never polling (aio.py)."""
        deadline = time.monotonic() + max(timeout, 0.0)
        changes = (await self._aio.state()).changes
        while True:
            change = await changes.watch(deadline - time.monotonic())
            record = await self.aget(job_id)
            left = deadline - time.monotonic()
            if record is None or record.status in ENDED_STATUSES or left <= 0:
                return record
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    if change is None:  # not subscribed: Redis is away, read again later
                        await asyncio.sleep(min(left, 1.0))
                    else:
                        await asyncio.shield(change)

    async def aclose(self) -> None:
        """Close the running event loop's ``redis.asyncio`` client now (else
        it is closed when the loop shuts down; see aio.py)."""
        await self._aio.aclose()

    # -- producing -------------------------------------------------------------

    def enqueue(self, jobs: Sequence[JobRecord], *, unique: bool = False) -> list[JobRecord]:
        """See the contract. Raises EnqueueOutcomeUnknownError when Redis did
        not answer after the jobs may have reached it; enqueued again (same
        ids and payloads) through this object, they are not stored twice."""
        if not jobs:
            return []
        if len(jobs) > 1:
            return self._enqueue_many(jobs, unique)
        jobs, args, retried = self._enqueue_args(jobs, unique)

        def store(client: redis.Redis, attempt: int) -> Any:
            args[3] = "1" if attempt or retried else "0"
            return self._script(client, "enqueue", args)

        try:
            reply = self._conn.call(store, "the enqueue", unknown=_unknown(jobs))
        except EnqueueOutcomeUnknownError:
            self._unanswered.remember(jobs)
            raise
        return self._enqueued(jobs, reply)

    async def aenqueue(self, jobs: Sequence[JobRecord], *, unique: bool = False) -> list[JobRecord]:
        """:meth:`enqueue` through ``redis.asyncio`` (see ``aio.py``): the same
        script, retries, deadline and errors. A cancelled call counts as one
        whose reply was lost: enqueued again, its jobs are recognised."""
        if not jobs:
            return []
        await self._aio.refresh_clock(self._redis_clock, self.clock)
        if len(jobs) > 1:
            return await self._aenqueue_many(jobs, unique)
        jobs, args, retried = self._enqueue_args(jobs, unique)

        async def store(client: aredis.Redis, attempt: int) -> Any:
            args[3] = "1" if attempt or retried else "0"
            return await self._scripts.arun(client, "enqueue", args)

        try:
            reply = await self._aio.call(store, "the enqueue", unknown=_unknown(jobs))
        except (EnqueueOutcomeUnknownError, asyncio.CancelledError):
            # Cancelled, the script may have run as well: its retry is recognised.
            self._unanswered.remember(jobs)
            raise
        return self._enqueued(jobs, reply)

    def _enqueue_args(
        self, jobs: Sequence[JobRecord], unique: bool
    ) -> tuple[Sequence[JobRecord], list[Arg], bool]:
        """The jobs as sent (a retry of an unanswered enqueue keeps its records'
        created time), enqueue.lua's arguments (``[3]``: "retrying", set per
        attempt), and whether they repeat an unanswered enqueue."""
        jobs, retried = self._unanswered.as_retries(jobs)
        head: list[Arg] = [*self._head, "1" if unique else "0", "0"]
        return jobs, _enqueue_lua_args(head, self.now(), jobs), retried

    def _enqueue_many(self, jobs: Sequence[JobRecord], unique: bool) -> list[JobRecord]:
        """:meth:`enqueue` of several jobs: enqueue_many.lua when they are
        queued jobs of one shape (records.batch_args), not unique and not a
        retry, else enqueue.lua; each all or nothing. When enqueue_many.lua
        finds an id taken (a duplicate, an ended job to replace) it stores
        nothing and enqueue.lua decides, in a second round trip."""
        batch = _Batch(self, jobs, unique)

        def store(client: redis.Redis, attempt: int) -> Any:
            retrying = "1" if attempt or batch.retried else "0"
            if batch.bulk is not None:
                batch.bulk[3] = retrying
                if self._script(client, "enqueue_many", batch.bulk)[0] == b"ok":
                    return None
            args = batch.general()
            args[3] = retrying
            return self._script(client, "enqueue", args)

        try:
            reply = self._conn.call(store, "the enqueue", unknown=_unknown(batch.jobs))
        except EnqueueOutcomeUnknownError:
            self._unanswered.remember(batch.jobs)
            raise
        return batch.stored(reply)

    async def _aenqueue_many(self, jobs: Sequence[JobRecord], unique: bool) -> list[JobRecord]:
        """:meth:`_enqueue_many` through ``redis.asyncio``, as :meth:`aenqueue`."""
        batch = _Batch(self, jobs, unique)

        async def store(client: aredis.Redis, attempt: int) -> Any:
            retrying = "1" if attempt or batch.retried else "0"
            if batch.bulk is not None:
                batch.bulk[3] = retrying
                reply = await self._scripts.arun(client, "enqueue_many", batch.bulk)
                if reply[0] == b"ok":
                    return None
            args = batch.general()
            args[3] = retrying
            return await self._scripts.arun(client, "enqueue", args)

        try:
            reply = await self._aio.call(store, "the enqueue", unknown=_unknown(batch.jobs))
        except (EnqueueOutcomeUnknownError, asyncio.CancelledError):
            self._unanswered.remember(batch.jobs)
            raise
        return batch.stored(reply)

    def _enqueued(self, jobs: Sequence[JobRecord], reply: Any) -> list[JobRecord]:
        """The jobs as stored, from enqueue.lua's *reply*; raises its refusals."""
        kind = reply[0]
        if kind == b"duplicate":
            raise DuplicateJobError(reply[1].decode())
        if kind == b"missing":
            raise NoSuchJobError(reply[1].decode())
        self._unanswered.forget(jobs)
        self._changes.notify()
        stored: list[JobRecord] = []
        first: dict[str, JobRecord] = {}
        for job, entry in zip(jobs, reply[1:], strict=True):
            if entry == 0:
                record = job
            elif entry == b"b":
                record = first[job.id]
            else:
                record = job_record(entry[0], entry[1])
            first.setdefault(job.id, record)
            stored.append(record)
        return stored

    # -- working ---------------------------------------------------------------

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
        handed: list[Any] = []
        park: list[Arg] = ["", "", ""]
        inbox = self._inboxes.get(worker) if self._inboxes else None
        if inbox is not None:
            handed = inbox.take()
            if handed and not settle and not starts:
                # Leased to this worker by their enqueue (handoff.py): no round trip.
                return [], self._claimed([], handed, now)[0]
            # The handed jobs take their places in this claim: slots they fill are not idle.
            count = len(handed) // 2
            limit = max(limit - count, 0)
            starting = None if starting is None else max(starting - count, 0)
            inbox.arm()
            # Parked only while its BLPOP waits: the worker's, for an idle slot,
            # or one a slot keeps (that slot is the idle one).
            idle = inbox.by_slot or (limit > 0 and (starting is None or starting > 0))
            if idle and inbox.parkable():
                park = [now + PARK_SECONDS, inbox.lease_seconds, inbox.heard()]
        names = list(dict.fromkeys(queues))
        settle_part = settlement_args(settle, starts)
        begin: Arg = "" if starting is None else max(starting, 0)
        tail: list[Arg] = [worker, now + lease_seconds, max(limit, 0), begin]

        def take(client: redis.Redis, attempt: int) -> Any:
            claim_id = secrets.token_hex(6)
            with self._lost_lock:
                lost = self._lost_claims.setdefault(worker, [])
                lost_ids = ",".join(lost)
                lost.append(claim_id)  # until the reply is read
            args = [*self._head, now, *settle_part, *tail, claim_id, lost_ids, *park,
                    len(names), *names]  # fmt: skip
            reply = self._script(client, "claim", args)
            with self._lost_lock:
                self._lost_claims.pop(worker, None)
            return reply

        try:
            reply = self._conn.call(take, "the claim")
        except BaseException:
            if inbox is not None and handed:
                inbox.put_back(handed)  # still this worker's: the next claim returns them
            raise
        flags = [bool(flag) for flag in reply[0]]
        jobs, set_aside = self._claimed(reply[1], [*handed, *reply[2:]], now)
        if jobs or any(flags) or set_aside:
            self._changes.notify()
        return flags, jobs

    def _claimed(
        self, problems: list[bytes], reply: list[Any], now: float
    ) -> tuple[list[JobRecord], bool]:
        """The claimed jobs that decode; the others are moved to failed under
        their new lease (claim.lua already moved those it could not take).
        True if claim.lua or this changed a job that does not decode."""
        for problem in problems:
            log.error("claim: %s", problem.decode(errors="replace"))
        jobs, failed = [], []
        for i in range(0, len(reply), 2):
            try:
                jobs.append(decode_job(reply[i], reply[i + 1]))
            except CorruptRecordError:
                failed.append(failed_settlement(job_record(reply[i], reply[i + 1]), now))
        if failed:
            report_failed(failed)
            try:
                self.settle(failed, now)
            except BackendError as exc:  # their leases lapse, and recovery takes them
                log.error("claim: could not move the jobs that do not decode to failed: %s", exc)
        return jobs, bool(problems or failed)

    def settle(
        self, settlements: Sequence[Settlement], now: float, starts: Sequence[Start] = ()
    ) -> list[bool]:
        if not settlements and not starts:
            return []
        args = [now, *settlement_args(settlements, starts)]
        reply = self._run("settle", args, "the settlement")
        flags = [bool(flag) for flag in reply]
        if any(flags):
            self._changes.notify()
        return flags

    def renew(
        self, leases: Sequence[tuple[str, str]], *, lease_seconds: float, now: float
    ) -> RenewResult:
        if not leases:
            return RenewResult()
        args: list[Arg] = [now + lease_seconds, len(leases)]
        for job_id, token in leases:
            args += (job_id, token)
        lost, cancel = self._run("renew", args)
        return RenewResult(
            lost=[job_id.decode() for job_id in lost],
            cancel_requested=[job_id.decode() for job_id in cancel],
        )

    def expired_leases(self, now: float, limit: int = 100) -> list[JobRecord]:
        return recoverable(job_records(self._run("expired_leases", [now, limit])))

    def promote_due(self, now: float, limit: int = 1000) -> int:
        moved, _ = self._run("promote_due", [now, limit])
        if moved:
            self._changes.notify()
        return int(moved)

    def next_due(self) -> float | None:
        first = self._conn.call(
            lambda c, a: c.zrange(self.keys.scheduled, 0, 0, withscores=True), "next_due"
        )
        return float(first[0][1]) if first else None

    def purge_expired(self, now: float, limit: int = 1000) -> int:
        gone = int(self._run("purge_expired", [now, limit]))
        if gone:
            self._changes.notify()
        return gone

    # -- managing --------------------------------------------------------------

    def _change_one(self, name: str, job_id: str, now: float) -> JobRecord:
        reply = self._conn.call(
            lambda client, attempt: self._script(
                client, name, [*self._head, job_id, now, "1" if attempt else "0"]
            ),
            name,
        )
        if reply[0] == b"missing":
            raise NoSuchJobError(job_id)
        if reply[0] == b"invalid":
            status = reply[1].decode()
            if name == "cancel":
                raise rules.cancel_refused(job_id, status)
            raise rules.requeue_refused(job_id, status)
        self._changes.notify()
        return job_record(reply[1], reply[2])

    def cancel(self, job_id: str, now: float) -> JobRecord:
        return self._change_one("cancel", job_id, now)

    def requeue(self, job_id: str, now: float) -> JobRecord:
        return self._change_one("requeue", job_id, now)

    def delete(self, job_id: str) -> bool:
        retried = False

        def remove(client: redis.Redis, attempt: int) -> Any:
            nonlocal retried
            retried = attempt > 0
            return self._script(client, "delete", [*self._head, job_id])

        deleted = bool(self._conn.call(remove, "delete"))
        if deleted:
            self._changes.notify()
        # After a lost reply, a job found gone was most likely deleted by this call.
        return deleted or retried

    def empty(self, queue: str) -> int:
        gone = int(self._run("empty", [queue]))
        if gone:
            self._changes.notify()
        return gone

    def save_meta(self, job_id: str, meta: dict[str, object]) -> None:
        encoded = meta_json(meta) or ""
        if not self._run("save_meta", [job_id, encoded], "save_meta"):
            raise NoSuchJobError(job_id)

    def register_worker(self, info: WorkerInfo) -> None:
        self._run("register_worker", [info.name, info.expires, info.heartbeat, worker_json(info)])

    # -- hand-off to an idle worker (handoff.py) --------------------------------

    def accept_handoffs(self, worker: str, *, lease_seconds: float, by_slot: bool = False) -> None:
        """From now on, a claim of *worker* that takes nothing for an idle
        slot parks it, so that the next job of its queues is handed to it by
        its enqueue; :meth:`wait_for_change` watches its inbox, and its next
        claim returns what was handed. Until :meth:`end_handoffs`. With
        *by_slot*, a slot waits on the inbox instead (handoff.py, "A slot
        waits itself"): the worker parks while one does."""
        inbox = Inbox(self._conn, self.keys.inbox(worker), lease_seconds, by_slot=by_slot)
        self._inboxes[worker] = inbox
        self._changes.sources[worker] = inbox

    def slot_inbox(self, worker: str) -> SlotInbox:
        return SlotInbox(self._conn, self.keys.inbox(worker))

    def slot_waiting(self, worker: str, fd: int | None, *, park: bool, took: int = 0) -> None:
        inbox = self._inboxes.get(worker)
        if inbox is not None:
            inbox.slot_waits, inbox.slot_fd, inbox.slot_took = park, fd, took

    def end_handoffs(self, worker: str, now: float) -> list[JobRecord]:
        """End *worker*'s parking: nothing is handed to it after this call.
        Returns the jobs handed to it that it has not claimed yet (leased to
        it: the caller settles them, e.g. gives them back)."""
        inbox = self._inboxes.pop(worker, None)
        self._changes.sources.pop(worker, None)
        if inbox is None:
            return []
        try:
            handed = inbox.take()
            # A claim of nothing: ends the parking, returns what the list still holds.
            _, jobs = self.claim([], worker=worker, limit=0, lease_seconds=0.0, now=now)
            handed += inbox.close(self._conn.client)
        except BaseException:
            inbox.close_quietly()  # what was handed is recovered by its lease, not begun
            raise
        return self._claimed([], handed, now)[0] + jobs

    def unregister_worker(self, name: str) -> None:
        self._run("unregister_worker", [name])
        with self._lost_lock:
            self._lost_claims.pop(name, None)

    def register_schedules(self, infos: Sequence[ScheduleInfo]) -> dict[str, float]:
        if not infos:
            return {}
        mapping = {info.name: orjson.dumps(schedule_fields(info)) for info in infos}
        names = list(mapping)

        def register(client: redis.Redis, attempt: int) -> list[Any]:
            pipe = client.pipeline(transaction=True)
            pipe.hset(self.keys.schedules, mapping=mapping)  # type: ignore[arg-type]
            for info in infos:  # a new schedule starts at its registration
                pipe.hsetnx(self.keys.ticks, info.name, repr(float(info.heartbeat)))
            pipe.hmget(self.keys.ticks, names)
            return pipe.execute()

        ticks = self._conn.call(register, "register_schedules")[-1]
        return {name: float(t) for name, t in zip(names, ticks, strict=True)}

    def claim_ticks(self, claims: Sequence[TickClaim]) -> list[bool]:
        if not claims:
            return []
        body: list[Arg] = [len(claims)]
        for claim in claims:
            fields = job_fields(claim.job)
            body += (claim.schedule, repr(float(claim.tick)), claim.job.id, len(fields), *fields)
        flags = [bool(flag) for flag in self._run("claim_ticks", body, "the claim of cron ticks")]
        if any(flags):
            self._changes.notify()
        return flags


def _schedule_info(raw: bytes, *, ticks: dict[bytes, bytes]) -> ScheduleInfo:
    """A ScheduleInfo of its JSON and the latest tick claimed for it."""
    data = orjson.loads(raw)
    if type(data) is not dict:
        raise ValueError("not the JSON of an object")
    tick = ticks.get(str(data.get("name")).encode())
    return schedule_info({**data, "last_tick": None if tick is None else float(tick)})


def _hashes(client: redis.Redis, keys: Sequence[str]) -> list[list[bytes] | None]:
    """HGETALL of each key, as the flat list job_record reads: [] for a missing
    key, None for a key of another type (a corrupt record, not an error)."""
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.hgetall(key)
    return _flat_hashes(pipe.execute(raise_on_error=False))


async def _ahashes(client: aredis.Redis, keys: Sequence[str]) -> list[list[bytes] | None]:
    """:func:`_hashes` on an asyncio client."""
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.hgetall(key)
    return _flat_hashes(await pipe.execute(raise_on_error=False))


def _flat_hashes(replies: list[Any]) -> list[list[bytes] | None]:
    out: list[list[bytes] | None] = []
    for reply in replies:
        if isinstance(reply, redis.exceptions.ResponseError):
            if not str(reply).startswith("WRONGTYPE"):
                raise reply
            out.append(None)
        else:
            out.append([item for pair in reply.items() for item in pair])
    return out


class _Batch:
    """An enqueue of several jobs: the jobs as sent (a retry of an unanswered
    enqueue keeps its records' created time), enqueue_many.lua's arguments
    (None when it does not apply) and enqueue.lua's, built when needed; in
    both, ``[3]`` is "retrying", set per attempt."""

    def __init__(self, backend: RedisBackend, jobs: Sequence[JobRecord], unique: bool) -> None:
        self.backend = backend
        self.jobs, self.retried = backend._unanswered.as_retries(jobs)
        self.head: list[Arg] = [*backend._head, "1" if unique else "0", "0", len(self.jobs)]
        # unique and a retry expect taken ids: enqueue.lua at once, one round trip.
        compact = None if unique or self.retried else batch_args(self.jobs)
        self.bulk = None if compact is None else [*self.head, *compact]
        self._general: list[Arg] | None = None

    def general(self) -> list[Arg]:
        if self._general is None:
            self._general = _enqueue_lua_args(self.head[:4], self.backend.now(), self.jobs)
        return self._general

    def stored(self, reply: Any) -> list[JobRecord]:
        """The jobs as stored: as sent after enqueue_many.lua (*reply* None),
        else from enqueue.lua's reply."""
        backend = self.backend
        if reply is not None:
            return backend._enqueued(self.jobs, reply)
        backend._unanswered.forget(self.jobs)
        backend._changes.notify()
        return list(self.jobs)


def _enqueue_lua_args(head: list[Arg], now: float, jobs: Sequence[JobRecord]) -> list[Arg]:
    """enqueue.lua's arguments: *head* (prefix, origin, unique, retrying), then
    now (for a hand-off's lease), the count, and each job's fields."""
    args: list[Arg] = [*head, now, len(jobs)]
    for job in jobs:
        fields = job_fields(job)
        args += (job.id, len(fields), *fields)
    return args


def _unknown(jobs: Sequence[JobRecord]) -> Callable[[str], EnqueueOutcomeUnknownError]:
    """The error of an enqueue of *jobs* whose outcome is unknown."""
    return lambda detail: EnqueueOutcomeUnknownError([job.id for job in jobs], detail)
