"""The SQLite backend's kept counts (``job_counts``, kept by the write
transactions, and the queues' positions: joblane.backends.sqlite.counts)
against ``count(*)``: after every step of random sequences of every write the
contract has, each (queue, state) count equals the rows counted.

The sequences are Hypothesis's (shrunk to a minimal failing one on a failure);
each runs on a new file, through two backend objects on it (a producer's and a
worker's), with the worker's own side tasks (scheduler, lost-lease recovery,
housekeeping) where the worker has one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from joblane.backends.base import TickClaim
from joblane.backends.sqlite import SQLiteBackend
from joblane.backends.sqlite.migrate import migrate_file
from joblane.backends.sqlite.queries import QUERIES
from joblane.core.job import JobRecord
from joblane.core.outcome import STOPPED, Outcome, Settlement, Start, decide
from joblane.core.retry import Retry
from joblane.core.states import Registry
from joblane.errors import JoblaneError
from joblane.testing import ManualClock
from joblane.worker import sidetasks

from .helpers import FAILURE, LEASE, SUCCESS, make_job

QUEUES = ("a", "b", "c")


def kept_counts(conn: sqlite3.Connection) -> dict[tuple[str, str], int]:
    """The counts job_counts holds, but the queued ones (counted by position)."""
    rows = conn.execute(
        "SELECT queue, state, n FROM job_counts WHERE n <> 0 AND state <> 'queued'"
    ).fetchall()
    return {(queue, state): n for queue, state, n in rows}


def counted(conn: sqlite3.Connection, queued: bool = False) -> dict[tuple[str, str], int]:
    rows = conn.execute(
        "SELECT queue, coalesce(registry, 'queued'), count(*) FROM jobs GROUP BY 1, 2"
    ).fetchall()
    return {(queue, state): n for queue, state, n in rows if queued or state != "queued"}


def queues(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT queue FROM jobs UNION SELECT queue FROM job_counts").fetchall()
    return {row[0] for row in rows} | set(QUEUES)


def assert_exact(backend: SQLiteBackend, conn: sqlite3.Connection, step: str) -> None:
    assert kept_counts(conn) == counted(conn), step
    negative = conn.execute(
        "SELECT count(*) FROM job_counts WHERE n < 0 AND state <> 'queued'"
    ).fetchone()[0]
    assert negative == 0, step
    expected = counted(conn, queued=True)
    for queue in queues(conn):
        assert backend.count(queue) == expected.get((queue, "queued"), 0), (step, queue)
    for queue in QUEUES:
        assert backend.count(queue) == expected.get((queue, "queued"), 0), step
        for registry in Registry:
            key = registry.value.removesuffix("_job_registry")
            assert backend.registry_count(queue, registry) == expected.get((queue, key), 0), (
                step,
                registry,
            )


class Driver:
    """Random steps through the public contract and the worker's side tasks, on
    two backend objects sharing one file (a producer's and a worker's)."""

    def __init__(
        self, backends: list[SQLiteBackend], clock: ManualClock, rnd: random.Random, path: Path
    ) -> None:
        self.backends = backends
        self.clock = clock
        self.rnd = rnd
        self.path = path
        self.ids: list[str] = []
        self.started: dict[str, JobRecord] = {}

    @property
    def backend(self) -> SQLiteBackend:
        return self.rnd.choice(self.backends)

    def queue(self) -> str:
        return self.rnd.choice(QUEUES)

    def options(self) -> dict[str, Any]:
        rnd = self.rnd
        options: dict[str, Any] = {}
        if rnd.random() < 0.3:
            options["ttl"] = rnd.choice([5, 500])
        if rnd.random() < 0.3:
            options["at_front"] = True
        if rnd.random() < 0.3:
            options["retry"] = Retry(max=2, interval=rnd.choice([0, 5]))
        if rnd.random() < 0.3:
            options["result_ttl"] = rnd.choice([0, 5])
            options["failure_ttl"] = rnd.choice([5, 500])
        return options

    def pick(self, *statuses: str) -> str | None:
        """The id of a job stored in one of *statuses* (any, if none) most of the
        time, else of any job ever stored (maybe gone)."""
        if self.ids and self.rnd.random() < 0.2:
            return self.rnd.choice(self.ids)
        where = f"WHERE status IN ({', '.join('?' * len(statuses))})" if statuses else ""
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            rows = conn.execute(f"SELECT id FROM jobs {where} ORDER BY id", statuses).fetchall()
        finally:
            conn.close()
        return self.rnd.choice(rows)[0] if rows else None

    def store(self, jobs: list[JobRecord], unique: bool = False) -> None:
        stored = self.backend.enqueue(jobs, unique=unique)
        self.ids.extend(job.id for job in stored)

    def settlement(self, job: JobRecord) -> Settlement:
        outcome = self.rnd.choice([SUCCESS, FAILURE, STOPPED, Outcome.failure("x")])
        return decide(job, job.lease_token or "", outcome, self.clock.now())

    def take_started(self) -> JobRecord | None:
        if not self.started:
            return None
        return self.started.pop(self.rnd.choice(sorted(self.started)))

    # -- the steps ------------------------------------------------------------

    def enqueue(self) -> None:
        self.store([make_job(self.clock, self.queue(), **self.options())])

    def enqueue_batch(self) -> None:  # 16 or more of one queue: the JSON batch statement
        queue = self.queue()
        self.store([make_job(self.clock, queue) for _ in range(self.rnd.randint(16, 20))])

    def enqueue_mixed(self) -> None:  # queues and options mixed: the executemany path
        jobs = [
            make_job(self.clock, self.queue(), **self.options())
            for _ in range(self.rnd.randint(2, 20))
        ]
        if self.ids and self.rnd.random() < 0.3:  # an id taken: rolled back, then careful
            taken = make_job(self.clock, self.queue(), job_id=self.pick())
            jobs.insert(self.rnd.randrange(len(jobs)), taken)
        self.store(jobs, unique=self.rnd.random() < 0.5)

    def enqueue_scheduled(self) -> None:
        when = self.clock.now() + self.rnd.choice([1, 20])
        self.store([make_job(self.clock, self.queue(), scheduled=when, **self.options())])

    def enqueue_deferred(self) -> None:
        live = ("queued", "scheduled", "deferred", "started")
        picked = {self.pick(*live) for _ in range(self.rnd.choice([1, 1, 2]))}
        if self.rnd.random() < 0.2:
            picked.add(self.pick())
        deps = [d for d in picked if d is not None]
        self.store([make_job(self.clock, self.queue(), depends_on=deps, **self.options())])

    def enqueue_same_id(self) -> None:
        job_id = self.pick()
        if job_id is not None:
            job = make_job(self.clock, self.queue(), job_id=job_id)
            self.store([job], unique=self.rnd.random() < 0.5)

    def claim(self) -> None:
        """The worker's claim: settling some started jobs and marking starts in
        the same call, some jobs claimed ahead (not begun)."""
        settle = []
        for _ in range(self.rnd.randint(0, 2)):
            if (job := self.take_started()) is not None:
                settle.append(self.settlement(job))
        starts = [
            Start(job.id, job.lease_token or "", self.clock.now())
            for job in list(self.started.values())[:1]
            if job.started is None
        ]
        queues = self.rnd.sample(QUEUES, self.rnd.randint(1, 3))
        limit = self.rnd.randint(1, 4)
        _, jobs = self.backend.claim(
            queues, worker="w", limit=limit, lease_seconds=LEASE, now=self.clock.now(),
            settle=settle, starts=starts, starting=self.rnd.choice([None, 0, 1]),
        )  # fmt: skip
        self.started.update((job.id, job) for job in jobs)

    def settle(self) -> None:
        if (job := self.take_started()) is not None:
            self.backend.settle([self.settlement(job)], self.clock.now())

    def settle_unnamed(self) -> None:
        """A Settlement that does not name its job's queue: read back from the row."""
        if (job := self.take_started()) is not None:
            unnamed = dataclasses.replace(self.settlement(job), queue=None)
            self.backend.settle([unnamed], self.clock.now())

    def crash(self) -> None:
        """The worker dies: its leases lapse and another worker's recovery settles them."""
        self.started.clear()
        self.clock.advance(LEASE + 1)
        sidetasks.recover_expired(self.backend, self.clock.now(), limit=self.rnd.randint(1, 10))

    def cancel(self) -> None:
        if (job_id := self.pick("queued", "scheduled", "deferred", "started")) is not None:
            self.backend.cancel(job_id, self.clock.now())

    def delete(self) -> None:
        if (job_id := self.pick()) is not None:
            self.backend.delete(job_id)

    def requeue(self) -> None:
        if (job_id := self.pick("failed", "canceled", "stopped")) is not None:
            self.backend.requeue(job_id, self.clock.now())

    def empty(self) -> None:
        self.backend.empty(self.queue())

    def promote(self) -> None:
        self.backend.promote_due(self.clock.now(), limit=self.rnd.randint(1, 5))

    def scheduler(self) -> None:
        sidetasks.promote_due(self.backend, self.clock.now(), limit=self.rnd.randint(1, 5))

    def purge(self) -> None:
        self.clock.advance(self.rnd.choice([1, 10, 600]))
        self.backend.purge_expired(self.clock.now(), limit=self.rnd.randint(1, 50))

    def housekeeping(self) -> None:
        self.clock.advance(self.rnd.choice([1, 10, 600]))
        sidetasks.purge_expired(self.backend, self.clock.now(), limit=self.rnd.randint(1, 50))

    def tick(self) -> None:
        job = make_job(self.clock, self.queue())
        tick = float(int(self.clock.now()))
        self.backend.claim_ticks([TickClaim("every", tick, job)])
        self.ids.append(job.id)

    def corrupt(self) -> None:
        """A queued job's payload broken behind joblane's back (its status and
        queue untouched): the claim that meets it moves it to failed."""
        if (job_id := self.pick("queued")) is not None:
            conn = sqlite3.connect(self.path, isolation_level=None)
            conn.execute("UPDATE jobs SET payload = 'text' WHERE id = ?", (job_id,))
            conn.close()

    def meta(self) -> None:
        if (job_id := self.pick()) is not None:
            self.backend.save_meta(job_id, {"k": 1})

    def advance(self) -> None:
        self.clock.advance(self.rnd.choice([1, 5, 30]))

    def migrate(self) -> None:
        """The file taken back to schema version 4 (no kept counts) and migrated:
        the counts start again from count(*) and the positions as they are."""
        for backend in self.backends:
            backend.close()
        conn = sqlite3.connect(self.path, isolation_level=None)
        conn.execute("DROP TABLE job_counts")
        conn.execute("PRAGMA user_version = 4")
        conn.close()
        assert migrate_file(str(self.path)) == [
            f"SQLite database {self.path}: schema version 4 -> 5"
        ]
        self.backends[:] = [SQLiteBackend(self.path, clock=self.clock) for _ in self.backends]


STEPS = [name for name, value in vars(Driver).items() if callable(value) and not name.startswith(
    ("_", "queue", "options", "pick", "store", "settlement", "take_started"))]  # fmt: skip
DRAWN = STEPS + ["enqueue", "enqueue_deferred", "claim", "claim", "settle", "settle"] * 2
"""The steps as drawn: work through the worker more often than the rest, so
that deferred jobs see their dependencies end (released or canceled)."""


def run_steps(path: Path, steps: list[str], seed: int) -> None:
    clock = ManualClock()
    backends = [SQLiteBackend(path, clock=clock), SQLiteBackend(path, clock=clock)]
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        driver = Driver(backends, clock, random.Random(seed), path)
        for i, name in enumerate(steps):
            step: Callable[[], None] = getattr(driver, name)
            with contextlib.suppress(JoblaneError):  # a step the state refuses
                step()
            assert_exact(backends[0], conn, f"after step {i} ({name}) of {steps}")
    finally:
        conn.close()
        for backend in backends:
            backend.close()


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(steps=st.lists(st.sampled_from(DRAWN), min_size=1, max_size=60), seed=st.integers(0, 2**32))
def test_kept_counts_equal_count_star_after_every_step(steps: list[str], seed: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run_steps(Path(tmp) / "jobs.db", steps, seed)


def test_a_long_sequence_keeps_the_counts(tmp_path: Path) -> None:
    """Longer than Hypothesis's: the states pile up (many jobs of each state)."""
    rnd = random.Random(15)
    run_steps(tmp_path / "jobs.db", [rnd.choice(DRAWN) for _ in range(600)], seed=15)


def test_the_steps_cover_every_write() -> None:
    assert set(STEPS) >= {"enqueue", "enqueue_batch", "enqueue_mixed", "claim", "settle",
                          "settle_unnamed", "crash", "cancel", "delete", "requeue", "empty",
                          "promote", "scheduler", "purge", "housekeeping", "tick",
                          "corrupt", "migrate"}  # fmt: skip


def test_a_rolled_back_enqueue_leaves_the_counts(tmp_path: Path) -> None:
    """A duplicate id makes the common path roll back its inserts and take the
    careful one: the counts of the rolled-back rows go with them."""
    clock = ManualClock()
    backend = SQLiteBackend(tmp_path / "jobs.db", clock=clock)
    first = backend.enqueue([make_job(clock, "a")])[0]
    batch = [make_job(clock, "a") for _ in range(3)] + [make_job(clock, "a", job_id=first.id)]
    with pytest.raises(JoblaneError):
        backend.enqueue(batch)
    big = [make_job(clock, "a") for _ in range(20)] + [make_job(clock, "a", job_id=first.id)]
    assert len(backend.enqueue(big, unique=True)) == 21
    assert backend.count("a") == 21
    conn = sqlite3.connect(tmp_path / "jobs.db")
    assert counted(conn, queued=True) == {("a", "queued"): 21}
    assert conn.execute("SELECT count(*) FROM job_counts").fetchone() == (0,)
    conn.close()
    backend.close()


def test_a_failed_transaction_leaves_the_counts(tmp_path: Path) -> None:
    """An error after the counts were collected (here: the upsert itself fails
    on a table made read-only) rolls back the jobs and the counts together."""
    path = tmp_path / "jobs.db"
    clock = ManualClock()
    backend = SQLiteBackend(path, clock=clock)
    backend.enqueue([make_job(clock, "a", scheduled=clock.now() + 5)])
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(
        "CREATE TRIGGER refuse BEFORE UPDATE ON job_counts BEGIN SELECT RAISE(ABORT, 'no'); END"
    )
    with pytest.raises(JoblaneError):
        backend.enqueue([make_job(clock, "a", scheduled=clock.now() + 5)])
    conn.execute("DROP TRIGGER refuse")
    assert kept_counts(conn) == counted(conn) == {("a", "scheduled"): 1}
    conn.close()
    backend.close()


@pytest.mark.parametrize("seed", range(5))
def test_migration_counts_the_jobs_already_there(tmp_path: Path, seed: int) -> None:
    """A file of version 4 (no job_counts) with jobs in every state gets its
    counts from the migration, and keeps them exact afterwards."""
    path = tmp_path / "jobs.db"
    clock = ManualClock()
    backend = SQLiteBackend(path, clock=clock)
    driver = Driver([backend], clock, random.Random(seed), path)
    for name in ["enqueue_batch", "claim", "settle", "claim", "settle", "enqueue_scheduled",
                 "enqueue_deferred", "cancel", "claim", "enqueue"] * 3:  # fmt: skip
        with contextlib.suppress(JoblaneError):
            getattr(driver, name)()
    backend.close()
    conn = sqlite3.connect(path, isolation_level=None)
    before = counted(conn)
    assert len(before) >= 4
    waiting = {queue: n for (queue, state), n in counted(conn, queued=True).items()
               if state == "queued"}  # fmt: skip
    assert waiting
    conn.execute("DROP TABLE job_counts")
    conn.execute("PRAGMA user_version = 4")
    conn.close()
    assert migrate_file(str(path)) == [f"SQLite database {path}: schema version 4 -> 5"]
    conn = sqlite3.connect(path, isolation_level=None)
    assert kept_counts(conn) == before
    backend = SQLiteBackend(path, clock=clock)
    assert {queue: backend.count(queue) for queue in waiting} == waiting
    driver = Driver([backend], clock, random.Random(seed + 100), path)
    steps = ["claim", "settle", "delete", "enqueue", "empty", "requeue", "crash"]
    for name in steps + [driver.rnd.choice(DRAWN) for _ in range(100)]:
        with contextlib.suppress(JoblaneError):
            getattr(driver, name)()
        assert_exact(driver.backends[0], conn, name)
    conn.close()
    for backend in driver.backends:
        backend.close()


def plan(path: Path, sql: str) -> list[str]:
    conn = sqlite3.connect(path)
    params = {"queue": "a", "registry": "x"}
    steps = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
    conn.close()
    return steps


def test_a_registry_count_reads_one_row_of_job_counts(tmp_path: Path) -> None:
    SQLiteBackend(tmp_path / "jobs.db").close()
    steps = plan(tmp_path / "jobs.db", QUERIES.count_registry)
    assert any(step.startswith("SEARCH job_counts USING PRIMARY KEY") for step in steps), steps
    assert not [step for step in steps if "jobs" in step.replace("job_counts", "")], steps


def test_a_queued_count_reads_the_ends_of_the_queue_and_one_row(tmp_path: Path) -> None:
    SQLiteBackend(tmp_path / "jobs.db").close()
    steps = plan(tmp_path / "jobs.db", QUERIES.count_queued)
    assert not [step for step in steps if step.startswith(("SCAN jobs", "SCAN job_counts"))]
    searches = [step for step in steps if step.startswith("SEARCH")]
    assert searches.count("SEARCH jobs USING INDEX jobs_queued (queue=?)") == 2, steps
    assert all(
        step in ("SEARCH jobs USING INDEX jobs_queued (queue=?)",
                 "SEARCH job_counts USING PRIMARY KEY (queue=? AND state=?)")
        for step in searches
    ), steps  # fmt: skip
