"""Through a real PgBouncer in transaction pooling: producers work with
``pgbouncer=1`` (no prepared statements, no session state), a worker connected
directly runs their jobs, and a worker pointed at the pooler stops at start
with an error that says what it needs (a session of its own for LISTEN)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import tests.jobs.sample  # noqa: F401  # the @job functions
from joblane import Queue
from joblane.backends.postgres import PostgresBackend, from_url
from joblane.core.states import JobStatus
from joblane.errors import BackendError
from tests.servers import PgBouncer, shared_postgres
from tests.worker.conftest import ROOT, WorkerProcesses, wait_until


@pytest.fixture(scope="module")
def bouncer() -> Iterator[PgBouncer]:
    server = shared_postgres()
    pooler = PgBouncer(server, pool_mode="transaction").start()
    yield pooler
    pooler.remove()


@pytest.fixture
def schema_query(pg_url: str) -> str:
    return pg_url.partition("?")[2]  # schema=... of the test


@pytest.fixture
def producer(bouncer: PgBouncer, schema_query: str) -> Iterator[PostgresBackend]:
    backend = from_url(bouncer.url() + f"?{schema_query}&pgbouncer=1&pool_size=3")
    yield backend
    backend.close()


@pytest.mark.slow
def test_producers_through_transaction_pooling(
    producer: PostgresBackend, pg: PostgresBackend, pg_workers: WorkerProcesses
) -> None:
    queue = Queue("normal", backend=producer)
    one_by_one = [queue.enqueue("tests.jobs.sample.add", n, 1) for n in range(30)]
    bulk = queue.enqueue_many(
        [Queue.prepare_data("tests.jobs.sample.add", (n, 2)) for n in range(30)]
    )
    deferred = queue.enqueue("tests.jobs.sample.add", 0, 0, depends_on=one_by_one[0].id)
    canceled = queue.enqueue("tests.jobs.sample.noop")
    canceled.cancel()
    pg_workers.start("-c", "2")  # a worker of its own, connected directly
    jobs = [*one_by_one, *bulk, deferred]
    wait_until(
        lambda: all(j.refresh().status is JobStatus.FINISHED for j in jobs), what="every job"
    )
    assert [j.return_value for j in one_by_one] == [n + 1 for n in range(30)]
    assert canceled.refresh().status is JobStatus.CANCELED
    assert producer.get(deferred.id) == pg.get(deferred.id)


def test_a_worker_behind_transaction_pooling_fails_at_start(
    producer: PostgresBackend, bouncer: PgBouncer, schema_query: str, tmp_path: Path
) -> None:
    with pytest.raises(BackendError, match="needs a session of its own"):
        producer.check_listen(timeout=1.0)
    url = bouncer.url() + f"?{schema_query}&pgbouncer=1"
    done = subprocess.run(
        [sys.executable, "-m", "joblane", "--url", url, "worker", "--burst"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "LISTEN" in done.stderr and "session of its own" in done.stderr, done.stderr


def test_a_worker_connected_directly_passes_the_check(pg: PostgresBackend) -> None:
    pg.check_listen(timeout=5.0)
