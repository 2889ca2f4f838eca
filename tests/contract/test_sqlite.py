"""What only the SQLite backend has: its URL, file, pragmas, locks, plans, fork safety.

The behaviour every backend shares is tested by the rest of this directory.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from joblane.backends.sqlite import SQLiteBackend, database, from_url, parse_url, watch
from joblane.backends.sqlite.migrate import migrate_file
from joblane.backends.sqlite.queries import QUERIES, SCHEMA_VERSION, claim_statement
from joblane.core.states import STATUS_REGISTRY, JobStatus, Registry
from joblane.errors import BackendError, ConfigurationError, SchemaVersionError
from joblane.testing import ManualClock

from .helpers import claim, claim_one, enqueue, make_job
from .processes import open_and_enqueue


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "jobs.db"


@pytest.fixture
def backend(path: Path, clock: ManualClock) -> Iterator[SQLiteBackend]:
    backend = SQLiteBackend(path, clock=clock)
    yield backend
    backend.close()


def raw(path: Path) -> sqlite3.Connection:
    """A plain connection, as another program (or a person) would open the file."""
    return sqlite3.connect(path, isolation_level=None, check_same_thread=False)


# -- URL -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///jobs.db", "jobs.db"),
        ("sqlite:///data/jobs.db", "data/jobs.db"),
        ("sqlite:////var/lib/app/jobs.db", "/var/lib/app/jobs.db"),
        ("sqlite:////tmp/with%20space.db", "/tmp/with space.db"),
    ],
)
def test_parse_url_gives_the_path(url: str, expected: str) -> None:
    assert parse_url(url) == (Path(expected), {})


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://localhost/jobs",
        "sqlite://host/jobs.db",
        "sqlite:///",
        "sqlite:////tmp/",
        "sqlite:///jobs.db?mode=ro",
        "sqlite:jobs.db",
    ],
)
def test_a_bad_url_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError):
        parse_url(url)


def test_from_url_opens_the_file_with_its_options(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/jobs.db?durability=normal&busy_timeout=2.5"
    backend = from_url(url)
    try:
        assert (backend.path, backend.durability, backend.busy_timeout) == (
            f"{tmp_path}/jobs.db",
            "normal",
            2.5,
        )
        assert backend.url == url
        assert (tmp_path / "jobs.db").exists()
    finally:
        backend.close()


def test_the_url_names_the_same_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    relative = SQLiteBackend("jobs.db")
    absolute = SQLiteBackend(tmp_path / "jobs.db")
    try:
        assert relative.url == "sqlite:///jobs.db"
        assert absolute.url == f"sqlite:///{tmp_path}/jobs.db"
        assert absolute.url.startswith("sqlite:////")
        assert parse_url(relative.url)[0].resolve() == parse_url(absolute.url)[0]
    finally:
        relative.close()
        absolute.close()


@pytest.mark.parametrize(
    "options",
    [{"durability": "off"}, {"busy_timeout": -1}],
    ids=["durability", "busy_timeout"],
)
def test_bad_options_are_refused(path: Path, options: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        SQLiteBackend(path, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", [":memory:", ""])
def test_an_in_memory_database_is_refused(name: str) -> None:
    with pytest.raises(ConfigurationError, match="memory backend"):
        SQLiteBackend(name)


# -- the file --------------------------------------------------------------------


def test_a_new_file_is_in_wal_mode_with_the_schema(backend: SQLiteBackend, path: Path) -> None:
    conn = raw(path)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {"jobs", "job_deps", "workers", "jobs_queued", "jobs_registry"} <= tables
    conn.close()


def test_a_file_of_a_newer_schema_is_refused(path: Path) -> None:
    SQLiteBackend(path).close()
    conn = raw(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaVersionError, match="upgrade joblane"):
        SQLiteBackend(path)


def test_a_file_of_schema_version_1_is_refused_then_migrated_with_its_jobs(
    path: Path, clock: ManualClock
) -> None:
    # Version 1 (joblane 0.1.0) had no lost_attempts column, version 2 no enqueued_by,
    # version 3 no schedules table, version 4 no job_counts.
    old = SQLiteBackend(path, clock=clock)
    enqueue(old, clock)
    queued = enqueue(old, clock)
    started = claim_one(old, clock)
    old.close()
    conn = raw(path)
    conn.execute("ALTER TABLE jobs DROP COLUMN lost_attempts")
    conn.execute("ALTER TABLE jobs DROP COLUMN enqueued_by")
    conn.execute("DROP TABLE schedules")
    conn.execute("DROP TABLE job_counts")
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    with pytest.raises(SchemaVersionError, match="joblane migrate"):
        SQLiteBackend(path, clock=clock)
    assert migrate_file(str(path)) == [
        f"SQLite database {path}: schema version 1 -> 2",
        f"SQLite database {path}: schema version 2 -> 3",
        f"SQLite database {path}: schema version 3 -> 4",
        f"SQLite database {path}: schema version 4 -> 5",
    ]
    migrated = SQLiteBackend(path, clock=clock)
    assert migrated.get(started.id) == started
    assert migrated.list_queued("normal") == [queued]
    assert migrated.count("normal") == 1
    assert migrated.registry_count("normal", Registry.STARTED) == 1
    migrated.close()
    conn = raw(path)
    assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    conn.close()


def test_a_missing_directory_is_a_backend_error(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="cannot open"):
        SQLiteBackend(tmp_path / "nowhere" / "jobs.db")


def test_processes_creating_a_new_file_at_once_all_succeed(path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    count = 4
    start = context.Barrier(count)
    results = context.Queue()
    url = f"sqlite:///{path}"
    children = [
        context.Process(target=open_and_enqueue, args=(from_url, url, f"p{i}", start, results))
        for i in range(count)
    ]
    for child in children:
        child.start()
    reports = [results.get(timeout=60) for _ in children]
    for child in children:
        child.join(timeout=30)
    assert [error for _, error in reports] == [None] * count
    backend = SQLiteBackend(path)
    assert backend.count("normal") == count
    backend.close()


def test_the_registry_column_matches_the_core(backend: SQLiteBackend, path: Path) -> None:
    clock = ManualClock()
    jobs = {status: make_job(clock).copy(status=status) for status in JobStatus}
    backend.enqueue(list(jobs.values()))
    conn = raw(path)
    stored = dict(conn.execute("SELECT status, registry FROM jobs"))
    conn.close()
    for status in JobStatus:
        registry = STATUS_REGISTRY.get(status)
        assert stored[status.value] == (registry.value.removesuffix("_job_registry") if registry
                                        else None), status  # fmt: skip


# -- durability and locks ----------------------------------------------------------


def _synchronous(backend: SQLiteBackend) -> int:
    """The synchronous level of this thread's connection (1 NORMAL, 2 FULL)."""
    rows = backend._db.read(lambda s: s.execute("PRAGMA synchronous").fetchall())
    level: int = rows[0][0]
    return level


@pytest.mark.parametrize(("durability", "level"), [("full", 2), ("normal", 1)])
def test_an_enqueue_is_committed_at_the_durability_asked_for(
    path: Path, clock: ManualClock, durability: str, level: int
) -> None:
    backend = SQLiteBackend(path, clock=clock, durability=durability)
    enqueue(backend, clock)
    assert _synchronous(backend) == level
    claim(backend, clock)
    assert _synchronous(backend) == 1  # worker-side transitions: NORMAL
    backend.close()


def _cache_size(sqlite: sqlite3.Connection) -> int:
    size: int = sqlite.execute("PRAGMA cache_size").fetchall()[0][0]
    return size


def test_every_connection_has_the_larger_page_cache(backend: SQLiteBackend, path: Path) -> None:
    """cache_size is per connection: each thread's has it."""
    expected = -database.CACHE_SIZE_KIB
    plain = raw(path)
    assert _cache_size(plain) != expected  # SQLite's default (2,000 KiB as usually built)
    plain.close()
    assert backend._db.read(_cache_size) == expected
    found: list[int] = []
    thread = threading.Thread(target=lambda: found.append(backend._db.read(_cache_size)))
    thread.start()
    thread.join()
    assert found == [expected]


def test_a_write_gives_up_on_a_lock_held_too_long(path: Path, clock: ManualClock) -> None:
    backend = SQLiteBackend(path, clock=clock, busy_timeout=0.2)
    job = enqueue(backend, clock)
    holder = raw(path)
    holder.execute("BEGIN IMMEDIATE")
    with pytest.raises(BackendError, match="stayed locked"):
        enqueue(backend, clock)
    assert backend.get(job.id) == job  # WAL: reads go on beside the writer
    holder.execute("ROLLBACK")
    holder.close()
    enqueue(backend, clock)
    assert backend.count("normal") == 2
    backend.close()


def test_a_write_waits_for_a_lock_held_briefly(path: Path, clock: ManualClock) -> None:
    backend = SQLiteBackend(path, clock=clock, busy_timeout=10)
    holder = raw(path)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.1, lambda: holder.execute("ROLLBACK"))
    release.start()
    enqueue(backend, clock)
    release.join()
    holder.close()
    assert backend.count("normal") == 1
    backend.close()


def test_a_closed_backend_refuses_to_work(path: Path, clock: ManualClock) -> None:
    backend = SQLiteBackend(path, clock=clock)
    backend.close()
    with pytest.raises(BackendError, match="closed"):
        backend.count("normal")


# -- bad data ----------------------------------------------------------------------


def test_an_unknown_status_is_refused_when_written(backend: SQLiteBackend, path: Path) -> None:
    job = enqueue(backend, ManualClock())
    conn = raw(path)
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("UPDATE jobs SET status = 'exploded' WHERE id = ?", (job.id,))
    conn.close()


def test_an_unknown_status_is_read_as_an_undecodable_job(
    backend: SQLiteBackend, path: Path
) -> None:
    clock = ManualClock()
    job = enqueue(backend, clock)
    other = enqueue(backend, clock)
    conn = raw(path)
    conn.execute("PRAGMA ignore_check_constraints = ON")
    conn.execute("UPDATE jobs SET status = 'exploded' WHERE id = ?", (job.id,))
    conn.close()
    read = backend.get(job.id)
    assert read is not None and read.undecodable is not None
    assert read.undecodable.startswith(f"field 'status' of job {job.id!r}: 'exploded' is ")
    assert backend.get_many([other.id, job.id]) == [other, read]
    for registry in Registry:  # listings select known statuses: the row is in none
        assert backend.list_registry("normal", registry) == []
    assert backend.list_queued("normal") == [other]


def test_undecodable_json_is_read_as_an_undecodable_job(backend: SQLiteBackend, path: Path) -> None:
    job = enqueue(backend, ManualClock())
    conn = raw(path)
    conn.execute("UPDATE jobs SET meta = x'7b7b' WHERE id = ?", (job.id,))
    conn.close()
    read = backend.get(job.id)
    assert read is not None
    assert read.undecodable == (
        f"field 'meta' of job {job.id!r}: b'{{{{' is not valid JSON "
        "(unexpected character, expected a string key: line 1 column 2 (char 1))"
    )
    # What decoded is kept; the bad field takes its default.
    assert read.copy(undecodable=None) == job


# -- plans: bounded work whatever the backlog ------------------------------------------


def _plan(path: Path, sql: str) -> list[str]:
    conn = raw(path)
    conn.create_function("expiry", 2, lambda now, ttl: None)
    params = {name: 1 for name in re.findall(r":([a-z_]+)", sql)}
    positional = tuple(range(1, 1 + len(set(re.findall(r"\?(\d+)", sql)))))
    rows = conn.execute(f"EXPLAIN QUERY PLAN {sql}", params or positional).fetchall()
    conn.close()
    return [row[3] for row in rows]


@pytest.mark.parametrize(
    "name",
    [
        "insert_job",
        "insert_plain_job",
        "settle",
        "promote",
        "release_dependent",
        "due_jobs",
        "next_due",
        "expired_leases",
        "any_expired",
        "purge_expired",
        "count_queued",
        "list_queued",
        "count_registry",
        "list_registry",
        "empty_queue",
        "get_jobs",
        "requeue",
    ],
)
def test_no_query_reads_the_whole_table_or_sorts_it(
    backend: SQLiteBackend, path: Path, name: str
) -> None:
    plan = _plan(path, getattr(QUERIES, name))
    assert not [step for step in plan if step.startswith("SCAN jobs")], plan
    assert not [step for step in plan if "TEMP B-TREE" in step], plan


def test_claim_seeks_each_queue_and_sorts_only_its_candidates(
    backend: SQLiteBackend, path: Path
) -> None:
    plan = _plan(path, claim_statement(3))
    assert sum("SEARCH jobs USING INDEX jobs_queued (queue=?)" in step for step in plan) == 3
    assert not [step for step in plan if step.startswith("SCAN jobs")], plan


def test_queue_names_seeks_one_entry_per_queue(backend: SQLiteBackend, path: Path) -> None:
    plan = _plan(path, QUERIES.queue_names)
    assert not [step for step in plan if step.startswith("SCAN jobs")], plan


def test_promote_finds_each_job_by_the_rowid_of_jobs_scheduled(
    backend: SQLiteBackend, path: Path
) -> None:
    """due_jobs reads the rowids from jobs_scheduled; promote updates by rowid,
    without a seek into the primary-key index by the (random) job id."""
    assert _plan(path, QUERIES.due_jobs)[0].startswith("SEARCH jobs USING INDEX jobs_scheduled")
    plan = _plan(path, QUERIES.promote)
    assert plan[0] == "SEARCH jobs USING INTEGER PRIMARY KEY (rowid=?)", plan
    assert not [step for step in plan if "sqlite_autoindex_jobs" in step], plan


def test_promotion_by_rowid_queues_exactly_the_due_jobs_in_due_order(
    backend: SQLiteBackend, clock: ManualClock
) -> None:
    """Jobs of several queues due at various times, some not due, one deleted and
    one canceled before promotion: each batch queues the earliest due jobs, each
    queue in due order (ties by id), and nothing else changes."""
    start = clock.now()
    due: list[tuple[float, str, str]] = []
    later: list[tuple[float, str, str]] = []
    for i in range(60):
        queue = ("a", "b", "c")[i % 3]
        when = start + (i * 7) % 20 + (0 if i % 4 else 100)  # every 4th job not due
        job = enqueue(backend, clock, queue, scheduled=when, ttl=600 if i % 5 == 0 else None)
        (later if when > start + 50 else due).append((when, job.id, queue))
    deleted, canceled = due.pop(3), due.pop(10)
    assert backend.delete(deleted[1])
    backend.cancel(canceled[1], clock.now())
    waiting = enqueue(backend, clock, "a")
    clock.advance(50)
    now = clock.now()
    promoted = 0
    while (moved := backend.promote_due(now, limit=7)) > 0:
        assert moved <= 7
        promoted += moved
    assert promoted == len(due)
    for queue in ("a", "b", "c"):
        expected = [job_id for _, job_id, q in sorted(due) if q == queue]
        ids = [job.id for job in backend.list_queued(queue)]
        assert ids == ([waiting.id] if queue == "a" else []) + expected, queue
    for when, job_id, _ in due:
        promoted_job = backend.get(job_id)
        assert promoted_job is not None and promoted_job.status is JobStatus.QUEUED
        assert (promoted_job.enqueued, promoted_job.scheduled) == (now, when)
    for _, job_id, _ in later:
        waiting_job = backend.get(job_id)
        assert waiting_job is not None and waiting_job.status is JobStatus.SCHEDULED
    assert backend.get(deleted[1]) is None
    stopped = backend.get(canceled[1])
    assert stopped is not None and stopped.status is JobStatus.CANCELED


# -- fork ----------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork() is POSIX-only")
def test_the_parent_keeps_working_after_a_fork(backend: SQLiteBackend) -> None:
    clock = ManualClock()
    enqueue(backend, clock)
    backend.wait_for_change(0)  # the watch connection is open too
    in_thread = threading.Thread(target=lambda: enqueue(backend, clock))
    in_thread.start()
    in_thread.join()
    for child_uses_it in (False, True):
        pid = os.fork()
        if pid == 0:  # the child: never returns into pytest
            code = 1
            try:
                if database._INHERITED and child_uses_it:
                    code = 0 if backend.count("normal") == 2 else 2
                elif database._INHERITED:
                    code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    # the parent's connections are untouched: every kind of work goes on
    assert backend.count("normal") == 2
    assert len(claim(backend, clock, limit=1)) == 1
    enqueue(backend, clock)
    assert backend.wait_for_change(0) is True
    assert claim_one(backend, clock).status is JobStatus.STARTED


# -- waking an idle waiter -------------------------------------------------------

_ENQUEUE_FROM_ANOTHER_PROCESS = """
import sys
from joblane.backends.sqlite import SQLiteBackend
from joblane.core.job import JobOptions, new_job
backend = SQLiteBackend(sys.argv[1])
backend.enqueue([new_job("normal", "tests.work", [], {}, JobOptions(), now=0.0)])
backend.close()
"""

WATCH_LONG = 30.0
"""A wait that a commit must cut short: the test fails well before it ends."""


def _idle_then_commit_elsewhere(backend: SQLiteBackend, path: Path) -> tuple[bool, float]:
    """Let *backend*'s waiter back off, then commit from another process while it
    waits; what the wait returned and how long it lasted."""
    backend.wait_for_change(0)
    assert backend.wait_for_change(0.3) is False  # past FAST_FOR: backed off
    producer = subprocess.Popen([sys.executable, "-c", _ENQUEUE_FROM_ANOTHER_PROCESS, str(path)])
    try:
        started = time.monotonic()
        changed = backend.wait_for_change(WATCH_LONG)
        lasted = time.monotonic() - started
    finally:
        assert producer.wait(timeout=WATCH_LONG) == 0
    return changed, lasted


@pytest.fixture
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watch, "FAST_FOR", 0.05)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux only")
def test_an_idle_waiter_is_woken_by_inotify_not_by_polling(
    backend: SQLiteBackend, path: Path, quick_backoff: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Reads of the pragma once idle are further apart than the test lasts: only
    # the watch of the -wal file can end the wait in time.
    monkeypatch.setattr(watch, "BACKSTOP_POLL", 10 * WATCH_LONG)
    changed, lasted = _idle_then_commit_elsewhere(backend, path)
    assert backend._db.changes.inotify
    assert changed and lasted < WATCH_LONG / 2


def test_without_inotify_a_backed_off_waiter_still_sees_another_process_s_commit(
    backend: SQLiteBackend, path: Path, quick_backoff: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watch._WalWatch, "start", classmethod(lambda cls, path, poke: None))
    changed, lasted = _idle_then_commit_elsewhere(backend, path)
    assert not backend._db.changes.inotify
    assert changed and lasted < WATCH_LONG / 2


def test_a_commit_during_the_backed_off_phase_is_reported_by_the_next_check(
    backend: SQLiteBackend, path: Path, clock: ManualClock, quick_backoff: None
) -> None:
    backend.wait_for_change(0)
    assert backend.wait_for_change(0.3) is False  # backed off
    other = SQLiteBackend(path, clock=clock)
    try:
        enqueue(other, clock)
    finally:
        other.close()
    assert backend.wait_for_change(0) is True
    assert backend.wait_for_change(0) is False


def test_closing_the_backend_ends_the_watch_thread(backend: SQLiteBackend) -> None:
    backend.wait_for_change(0.05)
    wal_watch = backend._db.changes._wal_watch
    backend.close()
    if wal_watch is not None:
        wal_watch._thread.join(timeout=WATCH_LONG)
        assert not wal_watch._thread.is_alive()
    assert not backend._db.changes.inotify
