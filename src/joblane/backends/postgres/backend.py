"""PostgresBackend: the contract of ``joblane.backends.base`` on one PostgreSQL schema.

See the package docstring for the URL, the schema, time, waking and faults.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Sequence
from typing import Any, LiteralString

import psycopg
from psycopg import errors as pg_errors
from psycopg.pq import TransactionStatus

from joblane.backends.base import Capabilities, RenewResult, ScheduleInfo, TickClaim, WorkerInfo
from joblane.backends.decoding import (
    live_schedules,
    live_workers,
    recoverable,
    report_failed,
    schedule_info,
)
from joblane.backends.encoding import meta_json, schedule_fields
from joblane.backends.postgres import transitions
from joblane.backends.postgres.aio import AsyncSide
from joblane.backends.postgres.clock import DatabaseClock
from joblane.backends.postgres.database import (
    Connection,
    Database,
    Lost,
    connection_lost,
    said,
)
from joblane.backends.postgres.enqueue import insert, store_jobs, stored_by, unknown
from joblane.backends.postgres.queries import DEFAULT_SCHEMA, for_schema
from joblane.backends.postgres.records import (
    JOB_COLUMNS,
    Row,
    job_record,
    settle_arrays,
    worker_info,
    worker_params,
)
from joblane.backends.postgres.watch import ChangeListener
from joblane.backends.redis.unanswered import Unanswered
from joblane.core import rules
from joblane.core.clock import Clock
from joblane.core.job import JobRecord
from joblane.core.outcome import Settlement, Start
from joblane.core.rules import registry_sort_key
from joblane.core.states import ENDED_STATUSES, REGISTRY_STATUSES, Registry
from joblane.errors import (
    BackendError,
    ConfigurationError,
    EnqueueOutcomeUnknownError,
    NoSuchJobError,
)

DEFAULT_POOL_SIZE = 10
DEFAULT_RETRY_FOR = 10.0
DEFAULT_CONNECT_TIMEOUT = 5.0
LISTEN_CHECK_TIMEOUT = 5.0
"""Seconds a worker waits at start for its own test notification."""

DEPENDENTS_WAIT = "JLDEP"
"""The SQLSTATE of settle's common path when deferred jobs wait for a settled job."""

_REGISTRY_KEYS = {registry: statuses[0].value for registry, statuses in REGISTRY_STATUSES.items()}
DEEP_PAGE = 10_000
"""The start from which a page is read from the end of its list if that is nearer
(:meth:`PostgresBackend._page`): below it, walking the skipped rows costs less than
counting the list."""
_SCHEDULE_COLUMNS = ("name", "func_name", "spec", "timezone", "queue", "missed", "next_run",
                     "worker", "heartbeat", "expires", "last_tick")  # fmt: skip


class PostgresBackend:
    """Jobs in one schema of a PostgreSQL database, shared by every process that opens it.

    *conninfo*: what ``psycopg.connect`` takes (a ``postgresql://`` URL without
    joblane's options, or a DSN). *schema*: where the tables are (created on
    first use). *pool_size*: connections at most. *retry_for*: seconds a call
    may take while the server is unreachable, before BackendError.
    *connect_timeout*: seconds to open one connection. *prepare*: False for
    PgBouncer's transaction pooling (no prepared statements). *clock*: a clock
    instead of the database's (tests). Thread-safe.
    """

    capabilities = Capabilities(persistent=True, shared_between_processes=True)

    def __init__(
        self,
        conninfo: str,
        *,
        schema: str = DEFAULT_SCHEMA,
        pool_size: int = DEFAULT_POOL_SIZE,
        retry_for: float = DEFAULT_RETRY_FOR,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        prepare: bool = True,
        clock: Clock | None = None,
        display_url: str | None = None,
    ) -> None:
        if pool_size < 1:
            raise ConfigurationError(f"pool_size must be at least 1, not {pool_size}")
        if retry_for < 0 or connect_timeout <= 0:
            raise ConfigurationError("retry_for must be >= 0 and connect_timeout > 0 seconds")
        self.schema = schema
        self.sql = for_schema(schema)
        self.q = self.sql.queries
        self.url = display_url or f"postgresql://?schema={schema}"
        self._origin = "joblane-" + secrets.token_hex(6)
        self._db = Database(
            conninfo,
            display_url=self.url,
            statements=self.sql,
            schema=schema,
            pool_size=pool_size,
            retry_for=retry_for,
            connect_timeout=connect_timeout,
            application_name=self._origin,
            prepare=prepare,
        )
        try:
            self._db.ensure_schema()
            self._db_clock = DatabaseClock(self._db)
            if clock is None:
                self._db_clock.sync()
        except BaseException:
            self._db.close()
            raise
        self.clock: Clock = clock or self._db_clock
        self._channel = f"joblane.{schema}"
        self._changes = ChangeListener(self._db.connect, self._channel, self._origin)
        self._unanswered = Unanswered()
        self._aio = AsyncSide(self._aconnect, self._channel)

    def __repr__(self) -> str:
        return f"PostgresBackend({self.url!r})"

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called (``config.shared_backend`` replaces it)."""
        return self._db.closed

    # -- reading ---------------------------------------------------------------

    def now(self) -> float:
        return self.clock.now()

    def _rows(self, query: bytes | str, params: dict[str, Any] | None, what: str) -> list[Row]:
        def read(conn: Connection) -> list[Row]:
            return conn.execute(query, params).fetchall()

        return self._db.run(read, what)

    def get(self, job_id: str) -> JobRecord | None:
        rows = self._rows(self.q.get_job, {"id": job_id}, "reading a job")
        return job_record(rows[0]) if rows else None

    def get_many(self, job_ids: Sequence[str]) -> list[JobRecord | None]:
        if not job_ids:
            return []
        rows = self._rows(self.q.get_jobs, {"ids": list(job_ids)}, "reading jobs")
        found = {row[0]: row for row in rows}
        return [job_record(found[i]) if i in found else None for i in job_ids]

    def queue_names(self) -> list[str]:
        return [row[0] for row in self._rows(self.q.queue_names, None, "listing queues")]

    def count(self, queue: str) -> int:
        rows = self._rows(self.q.count_queued, {"queue": queue}, "counting")
        return int(rows[0][0])

    def registry_count(self, queue: str, registry: Registry) -> int:
        params = {"queue": queue, "registry": _REGISTRY_KEYS[registry]}
        return int(self._rows(self.q.count_registry, params, "counting")[0][0])

    def list_queued(self, queue: str, start: int = 0, limit: int = 100) -> list[JobRecord]:
        q = self.q
        rows = self._page(q.count_queued, q.list_queued, q.list_queued_from_end,
                          {"queue": queue}, start, limit)  # fmt: skip
        return [job_record(row) for row in rows]

    def list_registry(
        self, queue: str, registry: Registry, start: int = 0, limit: int = 100
    ) -> list[JobRecord]:
        q = self.q
        params = {"queue": queue, "registry": _REGISTRY_KEYS[registry]}
        rows = self._page(q.count_registry, q.list_registry, q.list_registry_from_end,
                          params, start, limit)  # fmt: skip
        return sorted((job_record(row) for row in rows), key=registry_sort_key)

    def _page(
        self,
        count: LiteralString,
        forward: LiteralString,
        backward: LiteralString,
        params: dict[str, Any],
        start: int,
        limit: int,
    ) -> list[Row]:
        """One page of a list: rows *start* to *start* + *limit* of *forward*'s order.
        OFFSET reads every row it skips, table row included; so a page from
        :data:`DEEP_PAGE` on is read from the end of the list (*backward*, the
        order reversed) when the end is nearer, after a count, which reads the
        index alone: the last pages cost a count, not a walk of the whole list."""
        start, limit = max(start, 0), max(limit, 0)

        def read(conn: Connection) -> list[Row]:
            if start >= DEEP_PAGE and limit:
                total = int(conn.execute(count, params).fetchall()[0][0])
                end = min(start + limit, total)
                if end <= start:
                    return []
                if total - end < start:
                    tail = {**params, "start": total - end, "limit": end - start}
                    return conn.execute(backward, tail).fetchall()[::-1]
            return conn.execute(forward, {**params, "start": start, "limit": limit}).fetchall()

        return self._db.run(read, "listing")

    def workers(self) -> list[WorkerInfo]:
        rows = self._rows(self.q.live_workers, {"now": self.now()}, "listing workers")
        return live_workers(rows, worker_info)

    def schedules(self) -> list[ScheduleInfo]:
        rows = self._rows(self.q.live_schedules, {"now": self.now()}, "listing schedules")
        return live_schedules(
            rows, lambda row: schedule_info(dict(zip(_SCHEDULE_COLUMNS, row, strict=True)))
        )

    def wait_for_change(self, timeout: float) -> bool:
        return self._changes.wait(timeout)

    def check_listen(self, timeout: float = LISTEN_CHECK_TIMEOUT) -> None:
        """Check that this backend's waits are woken: a NOTIFY sent through a
        pooled session reaches the listening one. BackendError saying what the
        worker needs otherwise (``Worker.run`` calls this at start)."""
        channel = self._channel
        q = self.q

        def send(payload: str) -> None:
            params = {"channel": channel, "payload": payload}
            self._db.run(lambda conn: conn.execute(q.notify, params), "checking LISTEN")

        try:
            delivered = self._changes.check(send, timeout)
        except psycopg.Error as exc:
            raise BackendError(f"cannot LISTEN on {self.url}: {said(exc)}") from exc
        if not delivered:
            raise BackendError(
                f"LISTEN on {self.url} received no notification within {timeout:g} s: a worker "
                "needs a session of its own to be woken (a direct connection, or PgBouncer in "
                "session pooling; transaction pooling drops notifications)"
            )

    def close(self) -> None:
        self._aio.close()
        self._changes.close()
        self._db.close()

    # -- async producers (aio.py) ----------------------------------------------

    async def _aconnect(self) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(self._db.conninfo, **self._db.connect_kwargs())

    async def _aread(self, query: bytes | str, params: dict[str, Any]) -> list[Row] | None:
        """Rows of *query* on the loop's connection; None if the connection
        was lost (the caller then runs the sync method on a thread)."""
        state = await self._aio.state()
        try:
            conn = await state.connection()
            cursor = await conn.execute(query, params)
            return await cursor.fetchall()
        except psycopg.Error as exc:
            if connection_lost(exc):
                await state.drop()
                return None
            raise BackendError(f"PostgreSQL error on {self.url}: {said(exc)}") from exc
        except asyncio.CancelledError:
            await asyncio.shield(state.drop())  # in an unknown state
            raise

    async def aenqueue(self, jobs: Sequence[JobRecord], *, unique: bool = False) -> list[JobRecord]:
        """:meth:`enqueue` on the caller's event loop: the common path is one
        INSERT awaited there; a taken id, dependencies, a retry of a lost
        enqueue or a lost connection go through the sync method on a thread."""
        if not jobs:
            return []
        sent, retrying = self._unanswered.as_retries(jobs)
        if retrying or any(job.depends_on for job in jobs):
            return await asyncio.to_thread(self.enqueue, jobs, unique=unique)
        state = await self._aio.state()
        try:
            conn = await state.connection()
            await conn.execute(*insert(self.q, sent))
        except pg_errors.UniqueViolation:
            return await asyncio.to_thread(self.enqueue, jobs, unique=unique)
        except psycopg.Error as exc:
            if not connection_lost(exc):
                raise BackendError(
                    f"PostgreSQL error on {self.url} (enqueueing): {said(exc)}"
                ) from exc
            await state.drop()
            self._unanswered.remember(sent)  # it may have been stored: recognised
            return await asyncio.to_thread(self.enqueue, jobs, unique=unique)
        except asyncio.CancelledError:
            self._unanswered.remember(sent)  # as a lost reply: recognised when retried
            await asyncio.shield(state.drop())
            raise
        self._changes.notify()
        return list(sent)

    async def aget(self, job_id: str) -> JobRecord | None:
        """:meth:`get` on the caller's event loop."""
        rows = await self._aread(self.q.get_job, {"id": job_id})
        if rows is None:
            return await asyncio.to_thread(self.get, job_id)
        return job_record(rows[0]) if rows else None

    async def aget_many(self, job_ids: Sequence[str]) -> list[JobRecord | None]:
        """:meth:`get_many` on the caller's event loop (one round trip)."""
        if not job_ids:
            return []
        rows = await self._aread(self.q.get_jobs, {"ids": list(job_ids)})
        if rows is None:
            return await asyncio.to_thread(self.get_many, job_ids)
        found = {row[0]: row for row in rows}
        return [job_record(found[i]) if i in found else None for i in job_ids]

    async def await_end(self, job_id: str, timeout: float) -> JobRecord | None:
        """The job once it ended, or as it is after *timeout* seconds (None if
        there is none): woken by NOTIFY, never polling (aio.py)."""
        deadline = time.monotonic() + max(timeout, 0.0)
        changes = (await self._aio.state()).changes
        while True:
            change = await changes.watch()
            record = await self.aget(job_id)
            left = deadline - time.monotonic()
            if record is None or record.status in ENDED_STATUSES or left <= 0:
                return record
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    if change is None:  # no listening session: read again later
                        await asyncio.sleep(min(left, 1.0))
                    else:
                        await asyncio.shield(change)

    async def aclose(self) -> None:
        """Close the running event loop's connections now (else they are
        closed when the loop shuts down; see aio.py)."""
        await self._aio.aclose()

    # -- producing -------------------------------------------------------------

    def enqueue(self, jobs: Sequence[JobRecord], *, unique: bool = False) -> list[JobRecord]:
        if not jobs:
            return []
        sent, retrying = self._unanswered.as_retries(jobs)
        q = self.q

        def store(conn: Connection) -> list[JobRecord]:
            return store_jobs(conn, q, sent, unique, retrying)

        def recognise(conn: Connection, lost: Lost) -> list[JobRecord] | None:
            """After a lost connection: the jobs as stored if that enqueue stored them."""
            return stored_by(conn, q, sent)

        try:
            stored = self._db.run(store, "enqueueing", recognise, unknown=unknown(sent))
        except EnqueueOutcomeUnknownError:
            self._unanswered.remember(sent)
            raise
        self._unanswered.forget(sent)
        self._changes.notify()
        return stored

    def enqueue_within(
        self, connection: object, jobs: Sequence[JobRecord], *, unique: bool = False
    ) -> list[JobRecord]:
        """:meth:`enqueue` through the app's open psycopg *connection*, in its
        transaction (a savepoint of it): the jobs commit or roll back with the
        app's rows, and the workers are woken at the commit. Neither commits
        nor rolls back the app's transaction; an error (a duplicate id, a
        missing dependency) rolls back only what this call wrote. On a
        connection in autocommit mode with no transaction open, the jobs are
        stored at once. The connection must reach this backend's database."""
        if not isinstance(connection, psycopg.Connection):
            raise ConfigurationError(
                f"enqueue_within needs a psycopg (3) Connection, not {type(connection).__name__}"
            )
        if not jobs:
            return []
        status = connection.info.transaction_status
        try:
            if status == TransactionStatus.IDLE and connection.autocommit:
                return store_jobs(connection, self.q, jobs, unique, False)
            if status == TransactionStatus.IDLE:
                # No statement yet: psycopg begins the app's transaction with
                # this one, and the savepoint keeps a failure of ours apart.
                connection.execute(b"SAVEPOINT joblane_enqueue")
                try:
                    stored = store_jobs(connection, self.q, jobs, unique, False)
                except BaseException:
                    connection.execute(b"ROLLBACK TO SAVEPOINT joblane_enqueue")
                    raise
                connection.execute(b"RELEASE SAVEPOINT joblane_enqueue")
                return stored
            if status != TransactionStatus.INTRANS:
                raise BackendError(
                    f"cannot enqueue through the app's connection: its transaction is "
                    f"{status.name} (roll it back first)"
                )
            return store_jobs(connection, self.q, jobs, unique, False)
        except psycopg.Error as exc:
            raise BackendError(f"PostgreSQL error on the app's connection: {said(exc)}") from exc

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
        names = list(dict.fromkeys(queues))
        taking = limit > 0 and bool(names)
        tokens = [secrets.token_hex(8) for _ in range(limit)] if taking else []
        params = {
            "queues": names, "limit": limit, "now": float(now), "worker": worker,
            "tokens": tokens, "lease_expires": float(now + lease_seconds),
            "starting": limit if starting is None else max(starting, 0),
        }  # fmt: skip
        q = self.q

        def run(conn: Connection) -> tuple[list[bool], list[Row]]:
            if not settle and not starts:
                return [], conn.execute(q.claim, params).fetchall() if taking else []
            arrays = settle_arrays(settle, starts)
            try:
                # The common path: both statements and the commit in one round trip.
                with conn.pipeline():
                    with conn.transaction():
                        settled = conn.execute(q.settle, arrays)
                        claimed = conn.execute(q.claim, params) if taking else None
                    flags = transitions.flags_of(settled.fetchall(), settle)
                    return flags, claimed.fetchall() if claimed is not None else []
            except psycopg.Error as exc:
                if exc.sqlstate != DEPENDENTS_WAIT:
                    raise
            with conn.pipeline(), conn.transaction():
                settled = conn.execute(q.settle_linked, arrays)
                claimed = conn.execute(q.claim, params) if taking else None
                rows = claimed.fetchall() if claimed is not None else []
                flags, moved = transitions.settled(conn, q, settled.fetchall(), settle, now)
                if moved and taking and len(rows) < limit:
                    # Dependents released by the settlements: claimable in this step.
                    more = {**params, "limit": limit - len(rows), "tokens": tokens[len(rows):],
                            "starting": max(params["starting"] - len(rows), 0)}  # type: ignore[operator]  # fmt: skip
                    rows += [(*row[:JOB_COLUMNS], row[JOB_COLUMNS] + limit)
                             for row in conn.execute(q.claim, more).fetchall()]  # fmt: skip
                return flags, rows

        def reclaim(conn: Connection, lost: Lost) -> tuple[list[bool], list[Row]] | None:
            rows = conn.execute(q.reclaim, {"tokens": tokens}).fetchall() if tokens else []
            return ([False] * len(settle), rows) if rows else None

        flags, rows = self._db.run(run, "claiming", reclaim)
        rows.sort(key=lambda row: row[JOB_COLUMNS])
        jobs, failed = transitions.claimed_jobs(rows, now)
        if failed:
            # A row that does not decode costs only itself: failed at once,
            # under the lease it was just given.
            self.settle(failed, now)
            report_failed(failed)
        if jobs or any(flags):
            self._changes.notify()
        return flags, jobs

    def settle(
        self, settlements: Sequence[Settlement], now: float, starts: Sequence[Start] = ()
    ) -> list[bool]:
        if not settlements and not starts:
            return []
        q = self.q
        params = settle_arrays(settlements, starts)

        def run(conn: Connection) -> list[bool]:
            try:
                return transitions.flags_of(conn.execute(q.settle, params).fetchall(), settlements)
            except psycopg.Error as exc:
                if exc.sqlstate != DEPENDENTS_WAIT:
                    raise
            # Deferred jobs wait for some of these: settle them and move the
            # dependents in one transaction.
            with conn.pipeline(), conn.transaction():
                rows = conn.execute(q.settle_linked, params).fetchall()
                return transitions.settled(conn, q, rows, settlements, now)[0]

        flags = self._db.run(run, "recording outcomes")
        if any(flags):
            self._changes.notify()
        return flags

    def renew(
        self, leases: Sequence[tuple[str, str]], *, lease_seconds: float, now: float
    ) -> RenewResult:
        if not leases:
            return RenewResult()
        params = {"ids": [job_id for job_id, _ in leases],
                  "tokens": [token for _, token in leases],
                  "lease_expires": float(now + lease_seconds)}  # fmt: skip
        rows = self._rows(self.q.renew, params, "renewing leases")
        held = {job_id: bool(cancel) for job_id, cancel in rows}
        result = RenewResult()
        for job_id, _ in leases:
            if job_id not in held:
                result.lost.append(job_id)
            elif held[job_id]:
                result.cancel_requested.append(job_id)
        return result

    def expired_leases(self, now: float, limit: int = 100) -> list[JobRecord]:
        params = {"now": float(now), "limit": limit}
        rows = self._rows(self.q.expired_leases, params, "finding expired leases")
        return recoverable(job_record(row) for row in rows)

    def promote_due(self, now: float, limit: int = 1000) -> int:
        if limit <= 0:
            return 0
        q = self.q

        def run(conn: Connection) -> int:
            with conn.transaction():
                due = conn.execute(q.due_jobs, {"now": float(now), "limit": limit}).fetchall()
                if not due:
                    return 0
                entries = [rules.queue_entry(now, ttl if type(ttl) is int else None, created)
                           for _, ttl, created in due]  # fmt: skip
                params = {"ids": [row[0] for row in due],
                          "enqueued": [float(e.enqueued) for e in entries],
                          "expires_at": [e.expires_at for e in entries]}  # fmt: skip
                return conn.execute(q.promote, params).rowcount

        promoted = self._db.run(run, "promoting scheduled jobs")
        if promoted:
            self._changes.notify()
        return promoted

    def next_due(self) -> float | None:
        due: float | None = self._rows(self.q.next_due, None, "reading the next due time")[0][0]
        return due

    def purge_expired(self, now: float, limit: int = 1000) -> int:
        if limit <= 0:
            return 0
        params = {"now": float(now), "limit": limit}
        return int(self._rows(self.q.purge_expired, params, "purging")[0][0])

    # -- managing ----------------------------------------------------------------

    def _transaction(self, fn: Any, what: str) -> Any:
        def run(conn: Connection) -> Any:
            with conn.transaction():
                return fn(conn)

        return self._db.run(run, what)

    def cancel(self, job_id: str, now: float) -> JobRecord:
        q = self.q
        record: JobRecord = self._transaction(
            lambda conn: transitions.cancel(conn, q, job_id, now), "canceling"
        )
        self._changes.notify()
        return record

    def requeue(self, job_id: str, now: float) -> JobRecord:
        q = self.q
        record: JobRecord = self._transaction(
            lambda conn: transitions.requeue(conn, q, job_id, now), "requeueing"
        )
        self._changes.notify()
        return record

    def delete(self, job_id: str) -> bool:
        return bool(self._rows(self.q.delete_job, {"id": job_id}, "deleting")[0][0])

    def empty(self, queue: str) -> int:
        def run(conn: Connection) -> int:
            return conn.execute(self.q.empty_queue, {"queue": queue}).rowcount

        return self._db.run(run, "emptying a queue")

    def save_meta(self, job_id: str, meta: dict[str, object]) -> None:
        params = {"id": job_id, "meta": meta_json(meta)}

        def run(conn: Connection) -> int:
            return conn.execute(self.q.save_meta, params).rowcount

        if not self._db.run(run, "saving meta"):
            raise NoSuchJobError(job_id)

    def register_worker(self, info: WorkerInfo) -> None:
        params = worker_params(info)
        self._db.run(lambda conn: conn.execute(self.q.register_worker, params), "registering")

    def unregister_worker(self, name: str) -> None:
        params = {"name": name}
        self._db.run(lambda conn: conn.execute(self.q.unregister_worker, params), "unregistering")

    def register_schedules(self, infos: Sequence[ScheduleInfo]) -> dict[str, float]:
        if not infos:
            return {}
        latest: dict[str, ScheduleInfo] = {info.name: info for info in infos}
        fields = [schedule_fields(info) for info in latest.values()]
        params = {name: [f[name] for f in fields] for name in
                  ("name", "func_name", "spec", "timezone", "queue", "missed", "next_run",
                   "worker", "heartbeat", "expires")}  # fmt: skip
        for name in ("next_run", "heartbeat", "expires"):
            params[name] = [None if v is None else float(v) for v in params[name]]
        rows = self._rows(self.q.register_schedules, params, "registering schedules")
        return {name: tick for name, tick in rows}

    def claim_ticks(self, claims: Sequence[TickClaim]) -> list[bool]:
        if not claims:
            return []
        q = self.q
        flags: list[bool] = self._transaction(
            lambda conn: transitions.claim_ticks(conn, q, claims), "claiming cron ticks"
        )
        if any(flags):
            self._changes.notify()
        return flags
