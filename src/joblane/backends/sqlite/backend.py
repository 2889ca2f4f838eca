"""SQLiteBackend: the contract of ``joblane.backends.base`` on one SQLite file.

See the package docstring for durability, locking and the URL form.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

from joblane.backends.base import Capabilities, RenewResult, ScheduleInfo, TickClaim, WorkerInfo
from joblane.backends.decoding import (
    live_schedules,
    live_workers,
    recoverable,
    report_failed,
    schedule_info,
)
from joblane.backends.encoding import json_ids, meta_json, schedule_fields
from joblane.backends.sqlite import transitions
from joblane.backends.sqlite.counts import Counts
from joblane.backends.sqlite.database import DEFAULT_FILE_MODE, Database
from joblane.backends.sqlite.enqueue import claim_ticks, store_jobs
from joblane.backends.sqlite.queries import QUERIES
from joblane.backends.sqlite.records import (
    JOB_COLUMNS,
    job_record,
    worker_info,
    worker_params,
)
from joblane.core.clock import Clock, SystemClock
from joblane.core.job import JobRecord
from joblane.core.outcome import Settlement, Start
from joblane.core.rules import registry_sort_key
from joblane.core.states import REGISTRY_STATUSES, Registry
from joblane.errors import ConfigurationError, NoSuchJobError

CHECKPOINT_INTERVAL = 0.2
"""Seconds between two idle-time WAL checkpoints of one backend object."""

DURABILITY_LEVELS = ("full", "normal")
DEFAULT_BUSY_TIMEOUT = 30.0

T = TypeVar("T")

# The value of the schema's generated `registry` column for each registry.
_REGISTRY_KEYS = {registry: statuses[0].value for registry, statuses in REGISTRY_STATUSES.items()}


class SQLiteBackend:
    """Jobs in one SQLite file, shared by every thread and process that opens it.

    *durability*: ``"full"`` (default) fsyncs every enqueue before it returns;
    ``"normal"`` does not (an accepted job survives a crash of the process, not
    a power loss). *busy_timeout*: seconds a write waits for another writer's
    lock before BackendError. *file_mode*: the permissions a new file (and its
    ``-wal`` and ``-shm``) gets, exactly; by default the owner's only, since
    job arguments often hold personal data. The object is thread-safe.
    """

    capabilities = Capabilities(persistent=True, shared_between_processes=True)

    def __init__(
        self,
        path: str | Path,
        *,
        clock: Clock | None = None,
        durability: str = "full",
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        file_mode: int = DEFAULT_FILE_MODE,
    ) -> None:
        if durability not in DURABILITY_LEVELS:
            raise ConfigurationError(
                f"durability must be one of {', '.join(DURABILITY_LEVELS)}, not {durability!r}"
            )
        if busy_timeout < 0:
            raise ConfigurationError(f"busy_timeout must be >= 0 seconds, not {busy_timeout!r}")
        if isinstance(file_mode, bool) or not isinstance(file_mode, int):
            raise ConfigurationError(f"file_mode must be an int such as 0o600, not {file_mode!r}")
        if file_mode & ~0o777 or file_mode & 0o600 != 0o600:
            raise ConfigurationError(
                f"file_mode must be permission bits (at most 0777) that let the owner read "
                f"and write, such as 0600 or 0660, not {file_mode:#o}"
            )
        path = str(path)
        if path in ("", ":memory:") or path.startswith("file:"):
            raise ConfigurationError(
                f"the SQLite backend needs a file path, not {path!r} (for jobs in memory, "
                "use the memory backend)"
            )
        self.path = path
        self.durability = durability
        self.busy_timeout = busy_timeout
        self.file_mode = file_mode
        self.url = _url(path, durability, busy_timeout, file_mode)
        self.clock: Clock = clock or SystemClock()
        self._db = Database(
            path,
            durable_enqueue=durability == "full",
            busy_timeout=busy_timeout,
            file_mode=file_mode,
        )
        self._last_checkpoint = 0.0

    def __repr__(self) -> str:
        return f"SQLiteBackend({self.url!r})"

    # -- reading ---------------------------------------------------------------

    def now(self) -> float:
        return self.clock.now()

    def get(self, job_id: str) -> JobRecord | None:
        rows = self._db.read(lambda s: s.execute(QUERIES.get_job, {"id": job_id}).fetchall())
        return job_record(rows[0]) if rows else None

    def get_many(self, job_ids: Sequence[str]) -> list[JobRecord | None]:
        if not job_ids:
            return []
        params = {"ids": json_ids(job_ids)}
        rows = self._db.read(lambda s: s.execute(QUERIES.get_jobs, params).fetchall())
        found = {row[0]: row for row in rows}
        return [job_record(found[i]) if i in found else None for i in job_ids]

    def queue_names(self) -> list[str]:
        rows = self._db.read(lambda s: s.execute(QUERIES.queue_names).fetchall())
        return [row[0] for row in rows]

    def count(self, queue: str) -> int:
        return self._scalar(QUERIES.count_queued, {"queue": queue})

    def registry_count(self, queue: str, registry: Registry) -> int:
        params = {"queue": queue, "registry": _REGISTRY_KEYS[registry]}
        return self._scalar(QUERIES.count_registry, params)

    def list_queued(self, queue: str, start: int = 0, limit: int = 100) -> list[JobRecord]:
        params = {"queue": queue, "start": max(start, 0), "limit": max(limit, 0)}
        rows = self._db.read(lambda s: s.execute(QUERIES.list_queued, params).fetchall())
        rows.sort(key=lambda row: row[JOB_COLUMNS])
        return [job_record(row) for row in rows]

    def list_registry(
        self, queue: str, registry: Registry, start: int = 0, limit: int = 100
    ) -> list[JobRecord]:
        params = {
            "queue": queue,
            "registry": _REGISTRY_KEYS[registry],
            "start": max(start, 0),
            "limit": max(limit, 0),
        }
        rows = self._db.read(lambda s: s.execute(QUERIES.list_registry, params).fetchall())
        return sorted((job_record(row) for row in rows), key=registry_sort_key)

    def workers(self) -> list[WorkerInfo]:
        params = {"now": self.now()}
        rows = self._db.read(lambda s: s.execute(QUERIES.live_workers, params).fetchall())
        return live_workers(rows, worker_info)

    def schedules(self) -> list[ScheduleInfo]:
        params = {"now": self.now()}
        rows = self._db.read(lambda s: s.execute(QUERIES.live_schedules, params).fetchall())
        names = ("name", "func_name", "spec", "timezone", "queue", "missed", "next_run",
                 "worker", "heartbeat", "expires", "last_tick")  # fmt: skip
        return live_schedules(rows, lambda row: schedule_info(dict(zip(names, row, strict=True))))

    def wait_for_change(self, timeout: float) -> bool:
        if timeout > 0:
            self._checkpoint_while_idle()
        return self._db.changes.wait(timeout)

    def _checkpoint_while_idle(self) -> None:
        """Copy the WAL into the database while this caller has nothing to do.

        Otherwise SQLite checkpoints inside whichever commit first finds the
        WAL over 1,000 pages: an enqueue or a claim then takes tens of
        milliseconds (copying ~4 MB and an fsync). Small, frequent, passive
        checkpoints in idle time keep that off the path of a job."""
        mono = time.monotonic()
        if mono - self._last_checkpoint < CHECKPOINT_INTERVAL:
            return
        self._last_checkpoint = mono
        self._db.read(lambda s: s.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall())

    def close(self) -> None:
        self._db.close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called (``config.shared_backend`` replaces it)."""
        return self._db.closed

    def _scalar(self, query: str, params: Mapping[str, object]) -> int:
        rows = self._db.read(lambda s: s.execute(query, params).fetchall())
        value: int = rows[0][0]
        return value

    # -- producing -------------------------------------------------------------

    def enqueue(self, jobs: Sequence[JobRecord], *, unique: bool = False) -> list[JobRecord]:
        if not jobs:
            return []
        return self._db.write(counted(partial(store_jobs, jobs=jobs, unique=unique)), durable=True)

    # -- working (synchronous=NORMAL: see the package docstring) ---------------

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
        run = partial(
            transitions.claim,
            queues=queues,
            worker=worker,
            limit=limit,
            lease_seconds=lease_seconds,
            now=now,
            settle=settle,
            starts=starts,
            starting=starting,
        )
        flags, jobs, failed = self._db.write(counted(run), durable=False, notify=False)
        report_failed(failed)
        if jobs or any(flags) or failed:
            # Only a claim that changed something wakes waiters: an idle worker's
            # empty claims must not wake the worker itself, again and again.
            self._db.changes.notify()
        return flags, jobs

    def settle(
        self, settlements: Sequence[Settlement], now: float, starts: Sequence[Start] = ()
    ) -> list[bool]:
        if not settlements and not starts:
            return []
        run = partial(transitions.settle_all, settlements=settlements, now=now, starts=starts)
        flags = self._db.write(counted(run), durable=False, notify=False)
        if any(flags):
            self._db.changes.notify()
        return flags

    def renew(
        self, leases: Sequence[tuple[str, str]], *, lease_seconds: float, now: float
    ) -> RenewResult:
        if not leases:
            return RenewResult()
        run = partial(transitions.renew, leases=leases, lease_expires=now + lease_seconds)
        return self._db.write(run, durable=False, notify=False)

    def expired_leases(self, now: float, limit: int = 100) -> list[JobRecord]:
        params = {"now": now, "limit": limit}
        rows = self._db.read(lambda s: s.execute(QUERIES.expired_leases, params).fetchall())
        return recoverable(job_record(row) for row in rows)

    def promote_due(self, now: float, limit: int = 1000) -> int:
        due = self.next_due()
        if due is None or due > now or limit <= 0:
            return 0  # nothing to do: leave the write lock to others
        run = partial(transitions.promote_due, now=now, limit=limit)
        return self._db.write(counted(run), durable=False)

    def next_due(self) -> float | None:
        rows = self._db.read(lambda s: s.execute(QUERIES.next_due).fetchall())
        due: float | None = rows[0][0]
        return due

    def purge_expired(self, now: float, limit: int = 1000) -> int:
        params = {"now": now}
        if limit <= 0 or not self._db.read(
            lambda s: s.execute(QUERIES.any_expired, params).fetchall()
        ):
            return 0  # nothing to do: leave the write lock to others
        run = partial(transitions.purge_expired, now=now, limit=limit)
        return self._db.write(counted(run), durable=False)

    # -- managing (user actions: fsynced like an enqueue) -----------------------

    def cancel(self, job_id: str, now: float) -> JobRecord:
        run = partial(transitions.cancel, job_id=job_id, now=now)
        return self._db.write(counted(run), durable=True)

    def requeue(self, job_id: str, now: float) -> JobRecord:
        run = partial(transitions.requeue, job_id=job_id, now=now)
        return self._db.write(counted(run), durable=True)

    def delete(self, job_id: str) -> bool:
        return self._db.write(counted(partial(transitions.delete, job_id=job_id)), durable=True)

    def empty(self, queue: str) -> int:
        def run(sqlite: sqlite3.Connection, counts: Counts) -> int:
            params = {"queue": queue}
            waiting, low, high = sqlite.execute(QUERIES.queue_bounds, params).fetchall()[0]
            emptied: int = sqlite.execute(QUERIES.empty_queue, params).rowcount
            if waiting and type(low) is int and type(high) is int:
                counts.dequeued_range(queue, waiting, low, high)
            return emptied

        return self._db.write(counted(run), durable=True)

    def save_meta(self, job_id: str, meta: dict[str, object]) -> None:
        params = {"id": job_id, "meta": meta_json(meta)}
        changed = self._db.write(
            lambda s: s.execute(QUERIES.save_meta, params).rowcount, durable=True
        )
        if not changed:
            raise NoSuchJobError(job_id)

    def register_worker(self, info: WorkerInfo) -> None:
        params = worker_params(info)
        self._db.write(
            lambda s: s.execute(QUERIES.register_worker, params), durable=False, notify=False
        )

    def unregister_worker(self, name: str) -> None:
        self._db.write(
            lambda s: s.execute(QUERIES.unregister_worker, {"name": name}),
            durable=False,
            notify=False,
        )

    def register_schedules(self, infos: Sequence[ScheduleInfo]) -> dict[str, float]:
        if not infos:
            return {}

        def run(sqlite: sqlite3.Connection) -> dict[str, float]:
            sqlite.executemany(QUERIES.register_schedule, [schedule_fields(i) for i in infos])
            return {
                info.name: sqlite.execute(QUERIES.last_tick, {"name": info.name}).fetchall()[0][0]
                for info in infos
            }

        return self._db.write(run, durable=False, notify=False)

    def claim_ticks(self, claims: Sequence[TickClaim]) -> list[bool]:
        if not claims:
            return []
        run = counted(partial(claim_ticks, claims=claims))
        flags = self._db.write(run, durable=True, notify=False)
        if any(flags):
            self._db.changes.notify()
        return flags


def counted(
    fn: Callable[[sqlite3.Connection, Counts], T],
) -> Callable[[sqlite3.Connection], T]:
    """*fn* with the kept counts it collects added at its end (counts.py), in
    its transaction: a fresh Counts each time the transaction is run (a busy
    file runs it again)."""

    def run(sqlite: sqlite3.Connection) -> T:
        counts = Counts()
        result = fn(sqlite, counts)
        counts.apply(sqlite)
        return result

    return run


def _url(path: str, durability: str, busy_timeout: float, file_mode: int) -> str:
    options = []
    if durability != "full":
        options.append(f"durability={durability}")
    if busy_timeout != DEFAULT_BUSY_TIMEOUT:
        options.append(f"busy_timeout={busy_timeout:g}")
    if file_mode != DEFAULT_FILE_MODE:
        options.append(f"file_mode={file_mode:04o}")
    query = "?" + "&".join(options) if options else ""
    return f"sqlite:///{quote(Path(path).as_posix(), safe='/')}{query}"
