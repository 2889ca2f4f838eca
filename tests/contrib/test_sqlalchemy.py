"""joblane.contrib.sqlalchemy with the app's data in a real SQLite file (a
Session, and an AsyncSession over aiosqlite) or on the throwaway PostgreSQL
server (``postgresql+psycopg``, ``postgresql+psycopg_async``), and a real
``joblane worker`` process: jobs are stored after the session commits, never
when it or a savepoint rolls back. The job store stays a SQLite file."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import Session

import joblane
import tests.jobs.sample  # noqa: F401  # the @job functions
from joblane import Job, JobNotStoredError, NoSuchJobError, Queue
from joblane.contrib.sqlalchemy import bind
from joblane.pending import current_pending
from tests.jobs.ledger import tags
from tests.servers import postgres_database
from tests.worker.conftest import WorkerProcesses, wait_until

ADD = "tests.jobs.sample.add"
RECORD = "tests.jobs.ledger.record"
INSERT = text("INSERT INTO orders (tag) VALUES (:tag)")


@pytest.fixture(params=["sqlite", "postgresql"])
def app_db(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """The app's database, new for the test: its (sync URL, asyncio URL)."""
    if request.param == "sqlite":
        path = tmp_path / "app.db"
        return f"sqlite:///{path}", f"sqlite+aiosqlite:///{path}"
    server, name = postgres_database()
    return server.url(name), server.url(name, driver="psycopg_async")


@pytest.fixture
def engine(app_db: tuple[str, str]) -> Iterator[Engine]:
    e = create_engine(app_db[0])
    key = "SERIAL" if e.dialect.name == "postgresql" else "INTEGER"
    with e.begin() as conn:
        conn.execute(text(f"CREATE TABLE orders (id {key} PRIMARY KEY, tag TEXT)"))
    yield e
    e.dispose()


def orders(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [row[0] for row in conn.execute(text("SELECT tag FROM orders ORDER BY id"))]


def test_commit_stores_rollback_does_not(engine: Engine, queue: Queue) -> None:
    with Session(engine) as session, bind(session):
        job = queue.enqueue(ADD, 1, 2)  # begins the session's transaction
        assert session.in_transaction() and len(queue) == 0
        with pytest.raises(JobNotStoredError):
            Job.fetch(job.id, backend=queue.backend)
        session.execute(INSERT, {"tag": "a"})
        session.commit()
        assert [j.id for j in queue.get_jobs()] == [job.id]

        session.execute(INSERT, {"tag": "b"})
        dropped = queue.enqueue(ADD, 3, 4)
        session.rollback()
        with pytest.raises(NoSuchJobError) as raised:
            Job.fetch(dropped.id, backend=queue.backend)
        assert type(raised.value) is NoSuchJobError  # its id no longer held

        queue.enqueue(ADD, 5, 6)
        session.close()  # a close rolls back too
    assert len(queue) == 1 and orders(engine) == ["a"]


def test_unbound_or_outside_a_transaction_stores_at_once(engine: Engine, queue: Queue) -> None:
    with Session(engine) as session:
        session.execute(INSERT, {"tag": "a"})
        queue.enqueue(ADD, 1, 1)  # not bound: as today
        assert len(queue) == 1
    with Session(engine, autobegin=False) as session, bind(session):
        assert current_pending() is None
        queue.enqueue(ADD, 2, 2)
        assert len(queue) == 2
        with session.begin():
            queue.enqueue(ADD, 3, 3)
            assert len(queue) == 2
        assert len(queue) == 3


def test_savepoints(engine: Engine, queue: Queue) -> None:
    with Session(engine) as session, bind(session):
        kept = queue.enqueue(ADD, 1, 1)
        with pytest.raises(RuntimeError), session.begin_nested():
            queue.enqueue(ADD, 2, 2)
            raise RuntimeError("roll back the savepoint")
        with session.begin_nested():  # released: its jobs wait for the commit
            inner = queue.enqueue(ADD, 3, 3)
            nested = session.begin_nested()
            queue.enqueue(ADD, 4, 4)
            nested.rollback()
        assert len(queue) == 0
        session.commit()
    assert [j.id for j in queue.get_jobs()] == [kept.id, inner.id]


def test_a_joblane_atomic_inside_joins_the_session(engine: Engine, queue: Queue) -> None:
    with Session(engine) as session, bind(session):
        with joblane.atomic():
            job = queue.enqueue(ADD, 1, 1)
        assert len(queue) == 0
        session.rollback()
    assert len(queue) == 0
    with Session(engine) as session, bind(session):
        with joblane.atomic():
            job = queue.enqueue(ADD, 1, 1)
        session.commit()
    assert [j.id for j in queue.get_jobs()] == [job.id]


@pytest.mark.parametrize("robust", [True, False])
def test_a_failed_store_after_the_commit(
    engine: Engine, queue: Queue, robust: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    with Session(engine) as session, bind(session, robust=robust):
        session.execute(INSERT, {"tag": "a"})
        queue.enqueue(ADD, 1, 1)
        queue.backend.close()  # the store after the commit fails
        if robust:
            session.commit()
        else:
            with pytest.raises(joblane.JoblaneError):
                session.commit()
    assert orders(engine) == ["a"]  # committed either way
    assert any("were not stored" in r.getMessage() for r in caplog.records)


def test_an_async_session(app_db: tuple[str, str], engine: Engine, queue: Queue) -> None:
    async def run() -> list[str]:
        aengine = create_async_engine(app_db[1])
        ids = []
        try:
            async with AsyncSession(aengine) as session:
                with bind(session):
                    await session.execute(INSERT, {"tag": "a"})
                    ids.append(queue.enqueue(ADD, 1, 1).id)
                    async with session.begin_nested():
                        ids.append(queue.enqueue(ADD, 2, 2).id)
                    nested = await session.begin_nested()
                    queue.enqueue(ADD, 3, 3)
                    await nested.rollback()
                    assert len(queue) == 0
                    await session.commit()
                    queue.enqueue(ADD, 4, 4)
                    await session.rollback()
        finally:
            await aengine.dispose()
        return ids

    ids = asyncio.run(run())
    assert [j.id for j in queue.get_jobs()] == ids
    assert orders(engine) == ["a"]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_real_worker_runs_committed_jobs_once_and_never_rolled_back_ones(
    engine: Engine, app_db: tuple[str, str], queue: Queue, db_path: Path, tmp_path: Path, kind: str
) -> None:
    ledger = str(tmp_path / "ledger")
    workers = WorkerProcesses(f"sqlite:///{db_path}", tmp_path)
    try:
        workers.start("--import", "tests.jobs.ledger", "-c", "2")
        if kind == "sync":
            committed = produce(engine, queue, ledger)
        else:
            committed = asyncio.run(produce_async(app_db[1], queue, ledger))
        wait_until(lambda: len(tags(ledger)) >= len(committed), what="the committed jobs")
        wait_until(lambda: len(queue) == 0, what="the queue drained")
    finally:
        workers.stop_all()
    assert orders(engine) == committed
    assert Counter(tags(ledger)) == Counter(committed)


def produce(engine: Engine, queue: Queue, ledger: str) -> list[str]:
    committed = []
    with Session(engine) as session, bind(session):
        for n in range(10):
            tag = f"t{n}"
            session.execute(INSERT, {"tag": tag})
            queue.enqueue(RECORD, ledger, tag)
            nested = session.begin_nested()
            queue.enqueue(RECORD, ledger, f"{tag}-savepoint")
            nested.rollback()
            if n % 2:
                session.rollback()
            else:
                session.commit()
                committed.append(tag)
    return committed


async def produce_async(url: str, queue: Queue, ledger: str) -> list[str]:
    committed = []
    aengine = create_async_engine(url)
    try:
        async with AsyncSession(aengine) as session:
            with bind(session):
                for n in range(10):
                    tag = f"t{n}"
                    await session.execute(INSERT, {"tag": tag})
                    queue.enqueue(RECORD, ledger, tag)
                    nested = await session.begin_nested()
                    queue.enqueue(RECORD, ledger, f"{tag}-savepoint")
                    await nested.rollback()
                    if n % 2:
                        await session.rollback()
                    else:
                        await session.commit()
                        committed.append(tag)
    finally:
        await aengine.dispose()
    return committed
