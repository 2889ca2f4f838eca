"""Enqueue inside the app's own transaction (joblane.contrib.postgres.using), on
one database of the throwaway server: the app's rows and the jobs commit
together or not at all. Through a psycopg connection (autocommit off and on),
an SQLAlchemy Session and Django's connection; a real worker process runs
what was committed, and nothing else."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

import tests.jobs.ledger  # noqa: F401  # the @job functions
from joblane import DuplicateJobError, Queue
from joblane.backends.postgres import PostgresBackend, parse_url
from joblane.contrib.postgres import using
from joblane.core.states import JobStatus
from joblane.errors import ConfigurationError
from joblane.pending import current_pending
from tests.jobs.ledger import tags
from tests.worker.conftest import WorkerProcesses, wait_until

RECORD = "tests.jobs.ledger.record"


@pytest.fixture
def app(pg: PostgresBackend, pg_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """The app's own connection (autocommit off, as most apps use it), with an
    ``orders`` table of its own in the backend's database."""
    conninfo, _ = parse_url(pg_url)
    with psycopg.connect(conninfo) as conn:
        conn.execute(sql.SQL("CREATE TABLE {}.orders (tag text)").format(_schema(pg)))
        conn.commit()
        yield conn


def _schema(pg: PostgresBackend) -> sql.Identifier:
    return sql.Identifier(pg.schema)


def orders(pg: PostgresBackend, conninfo: str) -> list[str]:
    with psycopg.connect(conninfo) as conn:
        query = sql.SQL("SELECT tag FROM {}.orders ORDER BY tag").format(_schema(pg))
        return [row[0] for row in conn.execute(query)]


def insert(conn: psycopg.Connection[tuple[object, ...]], pg: PostgresBackend, tag: str) -> None:
    query = sql.SQL("INSERT INTO {}.orders (tag) VALUES (%s)").format(_schema(pg))
    conn.execute(query, (tag,))


def test_the_job_commits_and_rolls_back_with_the_app_s_rows(
    pg: PostgresBackend, app: psycopg.Connection[tuple[object, ...]], pg_url: str
) -> None:
    queue = Queue("normal", backend=pg)
    insert(app, pg, "kept")
    with using(app):
        kept = queue.enqueue(RECORD, "/nowhere", "kept")
    assert pg.get(kept.id) is None  # not visible outside the open transaction
    app.commit()
    stored = pg.get(kept.id)
    assert stored is not None and stored.status is JobStatus.QUEUED

    insert(app, pg, "dropped")
    with using(app):
        dropped = queue.enqueue(RECORD, "/nowhere", "dropped")
    app.rollback()
    assert pg.get(dropped.id) is None
    assert orders(pg, parse_url(pg_url)[0]) == ["kept"]
    assert current_pending() is None  # the block is over


def test_a_refused_enqueue_rolls_back_only_itself(
    pg: PostgresBackend, app: psycopg.Connection[tuple[object, ...]], pg_url: str
) -> None:
    queue = Queue("normal", backend=pg)
    first = queue.enqueue(RECORD, "/nowhere", "first")  # stored at once, outside
    insert(app, pg, "a")
    with using(app):
        with pytest.raises(DuplicateJobError):
            queue.enqueue(RECORD, "/nowhere", "again", job_id=first.id)
        other = queue.enqueue(RECORD, "/nowhere", "b")
    insert(app, pg, "b")  # the app's transaction goes on
    app.commit()
    assert orders(pg, parse_url(pg_url)[0]) == ["a", "b"]
    assert {j.id for j in queue.get_jobs()} == {first.id, other.id}


def test_an_autocommit_connection_s_transaction_block(pg: PostgresBackend, pg_url: str) -> None:
    queue = Queue("normal", backend=pg)
    conninfo, _ = parse_url(pg_url)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        with using(conn):
            at_once = queue.enqueue(RECORD, "/nowhere", "now")  # no transaction open
        assert pg.get(at_once.id) is not None
        with pytest.raises(ZeroDivisionError), conn.transaction(), using(conn):
            rolled_back = queue.enqueue(RECORD, "/nowhere", "never")
            raise ZeroDivisionError
        with conn.transaction(), using(conn):
            committed = queue.enqueue(RECORD, "/nowhere", "later")
    assert pg.get(rolled_back.id) is None
    assert pg.get(committed.id) is not None


def test_a_backend_of_another_kind_is_refused(
    app: psycopg.Connection[tuple[object, ...]], tmp_path: Path
) -> None:
    queue = Queue("normal", url=f"sqlite:///{tmp_path / 'jobs.db'}")
    with using(app), pytest.raises(ConfigurationError, match="postgresql:// backend"):
        queue.enqueue(RECORD, "/nowhere", "x")


def test_through_an_sqlalchemy_session(pg: PostgresBackend, pg_url: str, app: object) -> None:
    conninfo, _ = parse_url(pg_url)
    engine = create_engine(conninfo.replace("postgresql://", "postgresql+psycopg://", 1))
    queue = Queue("normal", backend=pg)
    table = f'"{pg.schema}".orders'
    try:
        with Session(engine) as session:
            with using(session):
                kept = queue.enqueue(RECORD, "/nowhere", "kept")
            session.execute(text(f"INSERT INTO {table} (tag) VALUES ('kept')"))
            session.commit()
            session.execute(text(f"INSERT INTO {table} (tag) VALUES ('dropped')"))
            with using(session):
                dropped = queue.enqueue(RECORD, "/nowhere", "dropped")
            session.rollback()
    finally:
        engine.dispose()
    assert pg.get(kept.id) is not None and pg.get(dropped.id) is None
    assert orders(pg, conninfo) == ["kept"]


@pytest.mark.slow
def test_a_real_worker_runs_the_committed_jobs_once_and_no_other(
    pg: PostgresBackend,
    app: psycopg.Connection[tuple[object, ...]],
    pg_workers: WorkerProcesses,
    pg_url: str,
    tmp_path: Path,
) -> None:
    ledger = str(tmp_path / "ledger")
    pg_workers.start("--import", "tests.jobs.ledger", "-c", "2")
    queue = Queue("normal", backend=pg)
    committed = []
    for n in range(10):
        tag = f"t{n}"
        insert(app, pg, tag)
        with using(app):
            queue.enqueue(RECORD, ledger, tag)
        if n % 2:
            app.rollback()
        else:
            app.commit()
            committed.append(tag)
    wait_until(lambda: len(tags(ledger)) >= len(committed), what="the committed jobs")
    wait_until(lambda: pg.count("normal") == 0, what="the queue drained")
    assert orders(pg, parse_url(pg_url)[0]) == committed
    assert Counter(tags(ledger)) == Counter(committed)
