"""joblane.contrib.django with a real Django (settings.configure; the app's data
in a SQLite file or on the throwaway PostgreSQL server) and a real ``joblane
worker`` process: a job enqueued in ``atomic`` is stored and run once when the
app's transaction commits, never when it (or its savepoint) rolls back. The job
store stays a SQLite file; the tests that take ``alias`` run on both databases."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

django = pytest.importorskip("django")

from django.conf import settings  # noqa: E402
from django.db import connection, connections, transaction  # noqa: E402

import tests.jobs.sample  # noqa: E402, F401  # the @job functions
from joblane import Job, JobNotStoredError, NoSuchJobError, Queue  # noqa: E402
from joblane.contrib.django import DjangoJobs, install  # noqa: E402
from joblane.pending import PendingJobs, current_pending  # noqa: E402
from tests.contrib.django_setup import PG, configure  # noqa: E402
from tests.jobs.ledger import tags  # noqa: E402
from tests.servers import postgres_bin  # noqa: E402
from tests.worker.conftest import WorkerProcesses, wait_until  # noqa: E402

ADD = "tests.jobs.sample.add"
RECORD = "tests.jobs.ledger.record"


@pytest.fixture(scope="module", autouse=True)
def django_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Django configured once per process; an ``orders`` table in its SQLite file
    (and in its PostgreSQL database, where there is one)."""
    configure(tmp_path_factory.mktemp("django"))
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, tag TEXT)")
    if PG in settings.DATABASES:
        with connections[PG].cursor() as cursor:
            cursor.execute("CREATE TABLE IF NOT EXISTS orders (id SERIAL PRIMARY KEY, tag TEXT)")
    uninstall_the_app()
    yield
    connections.close_all()


def uninstall_the_app() -> None:
    """The app installed the adapter at ``django.setup()`` (checked here); the
    tests install their own."""
    from django.apps import apps

    installed = apps.get_app_config("joblane").adapter
    assert installed.using == "default" and installed.robust is True
    with transaction.atomic():
        assert isinstance(current_pending(), PendingJobs)
    installed.uninstall()
    with transaction.atomic():
        assert current_pending() is None


@pytest.fixture(params=["default", PG], ids=["sqlite", "postgresql"])
def alias(request: pytest.FixtureRequest) -> str:
    """The app's database: the SQLite file or the PostgreSQL one."""
    name: str = request.param
    if name not in settings.DATABASES:
        postgres_bin()  # skips (fails under JOBLANE_REQUIRE_SERVERS=1)
        pytest.skip("Django was configured without PostgreSQL in this process")
    return name


@pytest.fixture
def adapter(alias: str) -> Iterator[DjangoJobs]:
    with connections[alias].cursor() as cursor:
        cursor.execute("DELETE FROM orders")
    joined = install(using=alias)
    yield joined
    joined.uninstall()


def save_order(tag: str, alias: str = "default") -> None:
    with connections[alias].cursor() as cursor:
        cursor.execute("INSERT INTO orders (tag) VALUES (%s)", [tag])


def orders(alias: str = "default") -> list[str]:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT tag FROM orders ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


def test_commit_stores_rollback_does_not(adapter: DjangoJobs, alias: str, queue: Queue) -> None:
    with transaction.atomic(using=alias):
        save_order("kept", alias)
        job = queue.enqueue(ADD, 1, 2)
        assert len(queue) == 0
        with pytest.raises(JobNotStoredError):
            Job.fetch(job.id, backend=queue.backend)
    assert [j.id for j in queue.get_jobs()] == [job.id]

    with pytest.raises(RuntimeError), transaction.atomic(using=alias):
        save_order("dropped", alias)
        dropped = queue.enqueue(ADD, 3, 4)
        raise RuntimeError("roll back")
    assert len(queue) == 1 and orders(alias) == ["kept"]
    with pytest.raises(NoSuchJobError) as raised:
        Job.fetch(dropped.id, backend=queue.backend)
    assert type(raised.value) is NoSuchJobError  # its id no longer held


def test_outside_atomic_stores_at_once(adapter: DjangoJobs, queue: Queue) -> None:
    assert current_pending() is None
    queue.enqueue(ADD, 1, 1)
    assert len(queue) == 1


def test_a_rolled_back_savepoint_drops_its_jobs(
    adapter: DjangoJobs, alias: str, queue: Queue
) -> None:
    with transaction.atomic(using=alias):
        kept = queue.enqueue(ADD, 1, 1)
        with pytest.raises(RuntimeError), transaction.atomic(using=alias):
            save_order("savepoint", alias)
            queue.enqueue(ADD, 2, 2)
            raise RuntimeError("roll back the savepoint")
        with transaction.atomic(using=alias):  # a savepoint released: its job commits
            save_order("released", alias)
            inner = queue.enqueue(ADD, 3, 3)
            with pytest.raises(RuntimeError), transaction.atomic(using=alias):
                queue.enqueue(ADD, 4, 4)  # two levels down
                raise RuntimeError("roll back the inner savepoint")
    assert [j.id for j in queue.get_jobs()] == [kept.id, inner.id]
    assert orders(alias) == ["released"]


def test_only_the_chosen_alias_is_followed(queue: Queue) -> None:
    joined = install(using="other")
    try:
        with transaction.atomic():  # "default": not followed, stored at once
            queue.enqueue(ADD, 1, 1)
            assert len(queue) == 1
        with transaction.atomic(using="other"):
            queue.enqueue(ADD, 2, 2)
            assert len(queue) == 1
        assert len(queue) == 2
    finally:
        joined.uninstall()


def test_a_joblane_atomic_inside_stores_in_one_callback(
    adapter: DjangoJobs, alias: str, queue: Queue
) -> None:
    import joblane

    with transaction.atomic(using=alias):
        with joblane.atomic():
            jobs = [queue.enqueue(ADD, i, i) for i in range(3)]
        assert len(connections[alias].run_on_commit) == 1
        assert len(queue) == 0
    assert [j.id for j in queue.get_jobs()] == [j.id for j in jobs]


def test_robust_logs_a_failed_store_and_runs_the_other_callbacks(
    queue: Queue, caplog: pytest.LogCaptureFixture
) -> None:
    joined = install(robust=True)
    ran: list[str] = []
    try:
        with transaction.atomic():
            save_order("robust")
            queue.enqueue(ADD, 1, 1)
            queue.backend.close()  # the store at the commit fails
            transaction.on_commit(lambda: ran.append("after"))
    finally:
        joined.uninstall()
    assert ran == ["after"]
    assert "robust" in orders()  # committed
    assert any("were not stored" in r.getMessage() for r in caplog.records)


def test_not_robust_raises_after_the_commit(queue: Queue) -> None:
    joined = install(robust=False)
    ran: list[str] = []
    try:
        with pytest.raises(Exception) as raised, transaction.atomic():
            save_order("not robust")
            queue.enqueue(ADD, 1, 1)
            queue.backend.close()
            transaction.on_commit(lambda: ran.append("after"))
    finally:
        joined.uninstall()
    assert not isinstance(raised.value, AssertionError)
    assert ran == []  # Django skips the callbacks after the failed one
    assert "not robust" in orders()  # the data committed all the same


@pytest.mark.slow
def test_a_real_worker_runs_committed_jobs_once_and_never_rolled_back_ones(
    adapter: DjangoJobs, alias: str, queue: Queue, db_path: Path, tmp_path: Path
) -> None:
    ledger = str(tmp_path / "ledger")
    committed: list[str] = []
    workers = WorkerProcesses(f"sqlite:///{db_path}", tmp_path)
    try:
        workers.start("--import", "tests.jobs.ledger", "-c", "2")
        for n in range(10):
            tag = f"t{n}"
            try:
                with transaction.atomic(using=alias):
                    save_order(tag, alias)
                    queue.enqueue(RECORD, ledger, tag)
                    with pytest.raises(RuntimeError), transaction.atomic(using=alias):
                        queue.enqueue(RECORD, ledger, f"{tag}-savepoint")
                        raise RuntimeError("roll back the savepoint")
                    if n % 2:
                        raise RuntimeError("roll back")
                committed.append(tag)
            except RuntimeError:
                pass
        wait_until(lambda: len(tags(ledger)) >= len(committed), what="the committed jobs")
        wait_until(lambda: len(queue) == 0, what="the queue drained")
    finally:
        workers.stop_all()
    assert orders(alias) == committed
    assert Counter(tags(ledger)) == Counter(committed)


@pytest.fixture(autouse=True)
def _quiet_django_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
