"""The SQLite backend's kept counts (``job_counts``, maintained by triggers on
``jobs``) against ``count(*)``: after every step of random sequences of every
write the contract has, each (queue, state) count equals the rows counted.

The sequences are Hypothesis's (shrunk to a minimal failing one on a failure);
each runs on a new file.
"""

from __future__ import annotations

import contextlib
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
from joblane.core.outcome import STOPPED, Outcome, decide, worker_lost_error
from joblane.core.retry import Retry
from joblane.core.states import Registry
from joblane.errors import JoblaneError
from joblane.testing import ManualClock

from .helpers import FAILURE, LEASE, SUCCESS, make_job

QUEUES = ("a", "b", "c")


def kept_counts(conn: sqlite3.Connection) -> dict[tuple[str, str], int]:
    rows = conn.execute("SELECT queue, state, n FROM job_counts WHERE n <> 0").fetchall()
    return {(queue, state): n for queue, state, n in rows}


def counted(conn: sqlite3.Connection) -> dict[tuple[str, str], int]:
    rows = conn.execute(
        "SELECT queue, coalesce(registry, 'queued'), count(*) FROM jobs GROUP BY 1, 2"
    ).fetchall()
    return {(queue, state): n for queue, state, n in rows}


def assert_exact(backend: SQLiteBackend, conn: sqlite3.Connection, step: str) -> None:
    expected = counted(conn)
    assert kept_counts(conn) == expected, step
    negative = conn.execute("SELECT count(*) FROM job_counts WHERE n < 0").fetchone()[0]
    assert negative == 0, step
    for queue in QUEUES:
        assert backend.count(queue) == expected.get((queue, "queued"), 0), step
        for registry in Registry:
            key = registry.value.removesuffix("_job_registry")
            assert backend.registry_count(queue, registry) == expected.get((queue, key), 0), (
                step,
                registry,
            )


class Driver:
    """Random steps through the public contract, on one backend."""

    def __init__(self, backend: SQLiteBackend, clock: ManualClock, rnd: random.Random) -> None:
        self.backend = backend
        self.clock = clock
        self.rnd = rnd
        self.ids: list[str] = []
        self.started: dict[str, object] = {}

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

    def pick(self) -> str | None:
        return self.rnd.choice(self.ids) if self.ids else None

    def store(self, jobs: list[object], unique: bool = False) -> None:
        stored = self.backend.enqueue(jobs, unique=unique)  # type: ignore[arg-type]
        self.ids.extend(job.id for job in stored)

    # -- the steps ------------------------------------------------------------

    def enqueue(self) -> None:
        self.store([make_job(self.clock, self.queue(), **self.options())])

    def enqueue_batch(self) -> None:  # 16 or more: the JSON batch statement
        queue = self.queue()
        self.store([make_job(self.clock, queue) for _ in range(self.rnd.randint(16, 20))])

    def enqueue_scheduled(self) -> None:
        when = self.clock.now() + self.rnd.choice([1, 20])
        self.store([make_job(self.clock, self.queue(), scheduled=when, **self.options())])

    def enqueue_deferred(self) -> None:
        deps = [d for d in {self.pick(), self.pick()} if d is not None]
        self.store([make_job(self.clock, self.queue(), depends_on=deps, **self.options())])

    def enqueue_same_id(self) -> None:
        job_id = self.pick()
        if job_id is not None:
            job = make_job(self.clock, self.queue(), job_id=job_id)
            self.store([job], unique=self.rnd.random() < 0.5)

    def claim(self) -> None:
        queues = self.rnd.sample(QUEUES, self.rnd.randint(1, 3))
        _, jobs = self.backend.claim(
            queues, worker="w", limit=self.rnd.randint(1, 4), lease_seconds=LEASE,
            now=self.clock.now(),
        )  # fmt: skip
        self.started.update((job.id, job) for job in jobs)

    def settle(self) -> None:
        if not self.started:
            return
        job_id = self.rnd.choice(sorted(self.started))
        job = self.started.pop(job_id)
        outcome = self.rnd.choice([SUCCESS, FAILURE, STOPPED, Outcome.failure("x")])
        now = self.clock.now()
        token = job.lease_token  # type: ignore[attr-defined]
        self.backend.settle([decide(job, token, outcome, now)], now)  # type: ignore[arg-type]

    def lose(self) -> None:
        self.clock.advance(LEASE + 1)
        now = self.clock.now()
        lost = Outcome.failure(worker_lost_error("gone"))
        expired = self.backend.expired_leases(now)
        self.backend.settle([decide(j, j.lease_token or "", lost, now) for j in expired], now)

    def cancel(self) -> None:
        if (job_id := self.pick()) is not None:
            self.backend.cancel(job_id, self.clock.now())

    def delete(self) -> None:
        if (job_id := self.pick()) is not None:
            self.backend.delete(job_id)

    def requeue(self) -> None:
        if (job_id := self.pick()) is not None:
            self.backend.requeue(job_id, self.clock.now())

    def empty(self) -> None:
        self.backend.empty(self.queue())

    def promote(self) -> None:
        self.backend.promote_due(self.clock.now(), limit=self.rnd.randint(1, 5))

    def purge(self) -> None:
        self.clock.advance(self.rnd.choice([1, 10, 600]))
        self.backend.purge_expired(self.clock.now(), limit=self.rnd.randint(1, 50))

    def tick(self) -> None:
        job = make_job(self.clock, self.queue())
        tick = float(int(self.clock.now()))
        self.backend.claim_ticks([TickClaim("every", tick, job)])
        self.ids.append(job.id)

    def meta(self) -> None:
        if (job_id := self.pick()) is not None:
            self.backend.save_meta(job_id, {"k": 1})

    def advance(self) -> None:
        self.clock.advance(self.rnd.choice([1, 5, 30]))


STEPS = [name for name, value in vars(Driver).items() if callable(value) and not name.startswith(
    ("_", "queue", "options", "pick", "store"))]  # fmt: skip


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(steps=st.lists(st.sampled_from(STEPS), min_size=1, max_size=40), seed=st.integers(0, 2**32))
def test_kept_counts_equal_count_star_after_every_step(steps: list[str], seed: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "jobs.db"
        clock = ManualClock()
        backend = SQLiteBackend(path, clock=clock)
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            driver = Driver(backend, clock, random.Random(seed))
            for i, name in enumerate(steps):
                step: Callable[[], None] = getattr(driver, name)
                with contextlib.suppress(JoblaneError):  # a step the state refuses
                    step()
                assert_exact(backend, conn, f"after step {i} ({name}) of {steps}")
        finally:
            conn.close()
            backend.close()


def test_the_steps_cover_every_write() -> None:
    assert set(STEPS) >= {"enqueue", "enqueue_batch", "claim", "settle", "lose", "cancel",
                          "delete", "requeue", "empty", "promote", "purge", "tick"}  # fmt: skip


def test_a_rolled_back_enqueue_leaves_the_counts(tmp_path: Path) -> None:
    """A duplicate id makes the common path roll back its inserts and take the
    careful one: the counts of the rolled-back rows go with them."""
    clock = ManualClock()
    backend = SQLiteBackend(tmp_path / "jobs.db", clock=clock)
    first = backend.enqueue([make_job(clock, "a")])[0]
    batch = [make_job(clock, "a") for _ in range(3)] + [make_job(clock, "a", job_id=first.id)]
    with pytest.raises(JoblaneError):
        backend.enqueue(batch)
    conn = sqlite3.connect(tmp_path / "jobs.db")
    assert kept_counts(conn) == counted(conn) == {("a", "queued"): 1}
    conn.close()
    backend.close()


def test_migration_counts_the_jobs_already_there(tmp_path: Path) -> None:
    """A file of version 4 (no job_counts) with jobs in every state gets its
    counts from the migration, and keeps them exact afterwards."""
    path = tmp_path / "jobs.db"
    clock = ManualClock()
    backend = SQLiteBackend(path, clock=clock)
    driver = Driver(backend, clock, random.Random(7))
    for name in ["enqueue_batch", "claim", "settle", "claim", "settle", "enqueue_scheduled",
                 "enqueue_deferred", "cancel", "claim", "enqueue"] * 3:  # fmt: skip
        with contextlib.suppress(JoblaneError):
            getattr(driver, name)()
    backend.close()
    conn = sqlite3.connect(path, isolation_level=None)
    before = counted(conn)
    assert len(before) >= 4
    for trigger in ("job_counts_insert", "job_counts_update", "job_counts_delete"):
        conn.execute(f"DROP TRIGGER {trigger}")
    conn.execute("DROP TABLE job_counts")
    conn.execute("PRAGMA user_version = 4")
    conn.close()
    assert migrate_file(str(path)) == [f"SQLite database {path}: schema version 4 -> 5"]
    conn = sqlite3.connect(path, isolation_level=None)
    assert kept_counts(conn) == before
    backend = SQLiteBackend(path, clock=clock)
    driver = Driver(backend, clock, random.Random(8))
    for name in ["claim", "settle", "delete", "enqueue", "empty", "requeue"]:
        with contextlib.suppress(JoblaneError):
            getattr(driver, name)()
        assert_exact(backend, conn, name)
    conn.close()
    backend.close()


@pytest.mark.parametrize("name", ["count_queued", "count_registry"])
def test_a_count_reads_one_row_of_job_counts(tmp_path: Path, name: str) -> None:
    SQLiteBackend(tmp_path / "jobs.db").close()
    conn = sqlite3.connect(tmp_path / "jobs.db")
    sql = getattr(QUERIES, name)
    plan = [
        row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", {"queue": "a", "registry": "x"})
    ]
    conn.close()
    assert any(step.startswith("SEARCH job_counts USING PRIMARY KEY") for step in plan), plan
    assert not [step for step in plan if "jobs" in step.replace("job_counts", "")], plan
