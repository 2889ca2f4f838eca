"""Faults in the middle of a run, on a PostgreSQL server of the module's own
(it is killed and restarted): real worker processes and a producer in the
test. Sessions are ended with ``pg_terminate_backend``; the server is stopped
as ``pg_ctl stop -m immediate`` does (SIGQUIT) and started again. Workers
reconnect by themselves and carry on, producers wait through a short outage
and get a clear BackendError from a long one, nothing accepted is lost, and
a job runs twice only if it was in flight at a fault."""

from __future__ import annotations

import signal
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

import tests.jobs.ledger  # noqa: F401  # the @job functions
from joblane import Queue
from joblane.backends.postgres import PostgresBackend, from_url
from joblane.core.states import Registry
from joblane.errors import BackendError, EnqueueOutcomeUnknownError
from tests.jobs.ledger import tags
from tests.servers import PostgresServer
from tests.worker.conftest import WorkerProcesses, wait_until

RECORD = "tests.jobs.ledger.record"
WORKERS, SLOTS = 2, 2

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    own = PostgresServer().start()
    yield own
    own.remove()


@pytest.fixture
def url(server: PostgresServer, tmp_path: Path) -> str:
    schema = "f" + str(abs(hash(str(tmp_path))) % 10**9)
    return f"postgresql://postgres@127.0.0.1:{server.port}/postgres?schema={schema}"


@pytest.fixture
def producer(url: str) -> Iterator[PostgresBackend]:
    backend = from_url(url + "&retry_for=30")
    yield backend
    backend.close()


@pytest.fixture
def workers(url: str, tmp_path: Path) -> Iterator[WorkerProcesses]:
    procs = WorkerProcesses(url + "&retry_for=30", tmp_path)
    yield procs
    procs.stop_all()


def terminate_sessions(server: PostgresServer) -> int:
    """End every joblane session (workers', producer's, listeners'); how many."""
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name LIKE 'joblane-%' AND pid <> pg_backend_pid()"
        ).fetchall()
    return len(rows)


def check_ledger(ledger: str, accepted: list[str], faults: int) -> None:
    ran = Counter(tags(ledger))
    assert set(accepted) <= set(ran), sorted(set(accepted) - set(ran))[:5]
    twice = [tag for tag, n in ran.items() if n > 1]
    # Only jobs in flight at a fault may run again: at most every slot's job.
    assert len(twice) <= faults * WORKERS * SLOTS, twice


def start_workers(workers: WorkerProcesses) -> None:
    for index in range(WORKERS):
        workers.start("--import", "tests.jobs.ledger", "-c", str(SLOTS), name=f"f{index}")


def produce(queue: Queue, ledger: str, tags_: list[str], accepted: list[str]) -> None:
    for tag in tags_:
        queue.enqueue(RECORD, ledger, tag)
        accepted.append(tag)


def test_terminated_sessions_are_replaced(
    server: PostgresServer, producer: PostgresBackend, workers: WorkerProcesses, tmp_path: Path
) -> None:
    ledger = str(tmp_path / "ledger")
    queue = Queue("normal", backend=producer)
    start_workers(workers)
    accepted: list[str] = []
    faults = 0
    for round_ in range(4):
        produce(queue, ledger, [f"r{round_}-{n}" for n in range(40)], accepted)
        wait_until(lambda: len(tags(ledger)) > 0, what="the first jobs")
        assert terminate_sessions(server) > 0
        faults += 1
    produce(queue, ledger, [f"after-{n}" for n in range(20)], accepted)  # on new sessions
    wait_until(lambda: set(accepted) <= set(tags(ledger)), timeout=60, what="every job")
    wait_until(
        lambda: producer.registry_count("normal", Registry.FINISHED) == len(accepted),
        timeout=60, what="every outcome recorded",
    )  # fmt: skip
    assert all(proc.poll() is None for proc in workers.procs)
    check_ledger(ledger, accepted, faults)


def test_an_immediate_shutdown_and_restart_mid_run(
    server: PostgresServer, producer: PostgresBackend, workers: WorkerProcesses, tmp_path: Path
) -> None:
    ledger = str(tmp_path / "ledger")
    queue = Queue("normal", backend=producer)
    start_workers(workers)
    accepted: list[str] = []
    produce(queue, ledger, [f"before-{n}" for n in range(100)], accepted)
    wait_until(lambda: len(tags(ledger)) > 0, what="the first jobs")
    during: list[str] = []
    errors: list[BaseException] = []

    def keep_producing() -> None:
        try:
            produce(queue, ledger, [f"during-{n}" for n in range(60)], during)
        except BaseException as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=keep_producing)
    thread.start()
    server.restart(signal.SIGQUIT, down_for=1.0)  # pg_ctl stop -m immediate; start
    thread.join(60)
    assert not errors, errors  # a short outage: the enqueues waited it out
    accepted += during
    produce(queue, ledger, [f"after-{n}" for n in range(20)], accepted)
    wait_until(lambda: set(accepted) <= set(tags(ledger)), timeout=60, what="every job")
    wait_until(
        lambda: producer.registry_count("normal", Registry.FINISHED) == len(accepted),
        timeout=60, what="every outcome recorded",
    )  # fmt: skip
    assert all(proc.poll() is None for proc in workers.procs)
    check_ledger(ledger, accepted, 1)


def test_a_producer_gets_a_clear_error_when_the_server_stays_away(
    server: PostgresServer, url: str
) -> None:
    producer = from_url(url + "&retry_for=1")
    queue = Queue("normal", backend=producer)
    try:
        queue.enqueue(RECORD, "/nowhere", "before")
        server.stop(signal.SIGQUIT)
        try:
            with pytest.raises(BackendError, match="stayed unreachable") as raised:
                queue.enqueue(RECORD, "/nowhere", "while-down")
            assert "retry_for" in str(raised.value)
        finally:
            server.start()
        assert queue.enqueue(RECORD, "/nowhere", "after").id  # it reconnects
    finally:
        producer.close()


def test_an_enqueue_whose_outcome_is_unknown_is_recognised_when_repeated(
    server: PostgresServer, url: str
) -> None:
    producer = from_url(url + "&retry_for=1")
    queue = Queue("normal", backend=producer)
    schema = url.rpartition("schema=")[2]
    errors: list[BaseException] = []
    try:
        queue.enqueue(RECORD, "/nowhere", "first")  # the schema exists
        blocker = psycopg.connect(server.dsn())
        blocker.execute(f'LOCK TABLE "{schema}".jobs')  # the enqueue will wait, sent

        def enqueue() -> None:
            try:
                queue.enqueue(RECORD, "/nowhere", "lost", job_id="the-job")
            except BaseException as exc:  # checked below
                errors.append(exc)

        thread = threading.Thread(target=enqueue)
        thread.start()
        wait_until(lambda: _waiting_on_lock(server), what="the enqueue waiting")
        server.stop(signal.SIGQUIT)  # its session ends with no reply
        thread.join(30)
        blocker.close()
        server.start()
        [error] = errors
        assert isinstance(error, EnqueueOutcomeUnknownError), error
        assert error.job_ids == ["the-job"]
        again = queue.enqueue(RECORD, "/nowhere", "lost", job_id="the-job")
        assert again.id == "the-job"
        assert [j.id for j in queue.get_jobs()].count("the-job") == 1
    finally:
        producer.close()


def _waiting_on_lock(server: PostgresServer) -> bool:
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND application_name LIKE 'joblane-%'"
        ).fetchone()
    return row is not None and row[0] > 0
