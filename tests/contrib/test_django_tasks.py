"""joblane.contrib.django's backend for Django's tasks framework (the
django-tasks backport here: Python 3.11, Django 5.2), with a real Django (its
database a SQLite file), a SQLite job store and real ``manage.py
joblane_worker`` processes: every TaskResult field over a task's life, retries,
a timeout, an async task, signals in the worker, get_result from another
process, requeue, enqueue on commit with a rollback, checks and seed 002's
``background``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("django_tasks")

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connections, transaction
from django.test import override_settings
from django.utils import timezone

from joblane import Queue
from joblane.contrib.django.backend import (
    JoblaneBackend,
    joblane_queue,
    tier,
    worker_queues,
)
from joblane.contrib.django.compat import (
    InvalidTaskBackendError,
    InvalidTaskError,
    TaskResultDoesNotExist,
    TaskResultStatus,
    task_backends,
    task_enqueued,
    task_finished,
)
from joblane.contrib.django.results import TaskTimeoutError
from tests.contrib.django_setup import PG, configure
from tests.servers import postgres_bin
from tests.worker.conftest import wait_until

ROOT = Path(__file__).resolve().parents[2]
READY, RUNNING = TaskResultStatus.READY, TaskResultStatus.RUNNING
SUCCESSFUL, FAILED = TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED


SETTINGS = """\
from pathlib import Path
from django_tasks.signals import task_finished, task_started
from tests.contrib.django_setup import tasks_setting

DATABASES = {databases!r}
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes",
                  "django_tasks", "joblane.contrib.django"]
TASKS = tasks_setting(Path({directory!r}), pg={pg!r})
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"


def _log(signal_name):
    def receiver(sender, task_result, **kwargs):
        import os
        with open({log!r}, "a") as f:
            line = [signal_name, task_result.id, task_result.status, os.getpid()]
            f.write(" ".join(map(str, line)) + "\\n")
    return receiver


_started, _finished = _log("started"), _log("finished")
task_started.connect(_started)
task_finished.connect(_finished)
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Django configured (tests/contrib/django_setup.py), and settings modules
    for worker processes with the same TASKS and Django's database the SQLite
    file (``djsite``) or, where there is one, the PostgreSQL database
    (``djsite_pg``); their signal receivers write what they get to
    ``signals.log``."""
    configure(tmp_path_factory.mktemp("django"))
    directory = Path(settings.DATABASES["default"]["NAME"]).parent
    here = tmp_path_factory.mktemp("site")
    log = here / "signals.log"
    log.write_text("")
    pg = PG in settings.DATABASES
    keys = ("ENGINE", "NAME", "USER", "HOST", "PORT")
    found = {a: {k: v for k, v in d.items() if k in keys} for a, d in settings.DATABASES.items()}
    for module, alias in (("djsite", "default"), ("djsite_pg", PG)):
        if alias in found:
            databases = {"default": found[alias]} | ({PG: found[PG]} if pg else {})
            (here / f"{module}.py").write_text(SETTINGS.format(
                databases=databases, directory=str(directory), pg=pg, log=str(log)))  # fmt: skip
    yield here


@pytest.fixture(scope="module")
def sample(site: Path) -> Any:
    import tests.contrib.djtasks_sample as sample

    return sample


def manage(site: Path, *args: str, module: str = "djsite",
           **popen: Any) -> subprocess.Popen[bytes]:  # fmt: skip
    env = dict(os.environ, DJANGO_SETTINGS_MODULE=module,
               PYTHONPATH=os.pathsep.join([str(site), str(ROOT)]))  # fmt: skip
    return subprocess.Popen([sys.executable, "-m", "django", *args], cwd=ROOT, env=env, **popen)


def run_burst(site: Path, module: str = "djsite") -> str:
    proc = manage(site, "joblane_worker", "--burst", "-c", "2", module=module,
                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    out, _ = proc.communicate(timeout=90)
    assert proc.returncode == 0, out.decode()
    return out.decode()


def signals(site: Path) -> list[list[str]]:
    return [line.split() for line in (site / "signals.log").read_text().splitlines()]


def test_a_task_s_life_through_a_real_worker(site: Path, sample: Any) -> None:
    enqueued: list[Any] = []

    def on_enqueued(sender: Any, task_result: Any, **kwargs: Any) -> None:
        enqueued.append(task_result.id)

    task_enqueued.connect(on_enqueued)
    try:
        ok = sample.add.enqueue(2, 3)
        bad = sample.fail_always.enqueue("boom")
        retried = sample.flaky.enqueue(tag="t1")
        timed_out = sample.sleep_long.enqueue(30)
        doubled = sample.async_double.enqueue(21)
    finally:
        task_enqueued.disconnect(on_enqueued)
    assert enqueued == [ok.id, bad.id, retried.id, timed_out.id, doubled.id]
    assert ok.status == READY and ok.args == [2, 3] and ok.kwargs == {}
    assert ok.enqueued_at is not None and ok.started_at is None and ok.finished_at is None
    assert ok.worker_ids == [] and ok.attempts == 0 and ok.errors == []
    assert ok.backend == "default" and ok.task.func is sample.add.func
    with pytest.raises(ValueError, match="not finished"):
        _ = ok.return_value
    store = task_backends["default"].joblane_backend
    assert store.get(bad.id).queue == "emails.important"  # priority 10
    assert store.get(ok.id).queue == "default.normal"

    run_burst(site)

    for result in (ok, bad, retried, timed_out, doubled):
        result.refresh()
    assert ok.status == SUCCESSFUL and ok.return_value == 5 and ok.errors == []
    assert ok.started_at is not None and ok.finished_at is not None
    assert ok.enqueued_at <= ok.started_at <= ok.last_attempted_at <= ok.finished_at
    assert len(ok.worker_ids) == 1 and ok.attempts == 1

    assert bad.status == FAILED and bad.attempts == 2  # RETRY max 1: two attempts
    assert [e.exception_class_path for e in bad.errors] == ["builtins.ValueError"] * 2
    assert bad.errors[0].exception_class is ValueError
    assert "ValueError: boom" in bad.errors[-1].traceback
    with pytest.raises(ValueError, match="failed"):
        _ = bad.return_value

    assert retried.status == SUCCESSFUL and retried.attempts == 2
    assert retried.return_value == {"attempt": 2, "id": retried.id}
    assert [e.exception_class_path for e in retried.errors] == ["builtins.KeyError"]
    assert retried.started_at < retried.last_attempted_at

    assert timed_out.status == FAILED and timed_out.attempts == 1
    assert issubclass(timed_out.errors[0].exception_class, TaskTimeoutError)
    assert timed_out.errors[0].exception_class_path.endswith("TaskTimeoutError")

    assert doubled.status == SUCCESSFUL and doubled.return_value == 42

    # task_started in the slot that ran the task, task_finished in the worker
    # process, once per task, with the task's final status.
    lines = signals(site)
    finished = {f[1]: f[2] for f in lines if f[0] == "finished"}
    assert finished == {ok.id: "SUCCESSFUL", bad.id: "FAILED", retried.id: "SUCCESSFUL",
                        timed_out.id: "FAILED", doubled.id: "SUCCESSFUL"}  # fmt: skip
    started = [f[1] for f in lines if f[0] == "started"]
    assert sorted(started) == sorted([ok.id, bad.id, bad.id, retried.id, retried.id,
                                      timed_out.id, doubled.id])  # fmt: skip
    finishing = {f[3] for f in lines if f[0] == "finished"}
    assert len(finishing) == 1  # the worker process
    assert finishing.isdisjoint(f[3] for f in lines if f[0] == "started")  # its slots

    # Requeue of a failed task (joblane's requeue): READY again, run again.
    again = task_backends["default"].requeue(bad.id)
    assert again.id == bad.id and again.status == READY
    run_burst(site)
    bad.refresh()
    assert bad.status == FAILED and bad.attempts == 3 and len(bad.errors) == 3  # one more try


def test_running_then_get_result_from_another_process(site: Path, sample: Any,
                                                      tmp_path: Path) -> None:  # fmt: skip
    flag = tmp_path / "go"
    result = sample.wait_for_file.enqueue(str(flag))
    assert task_backends["default"].joblane_backend.get(result.id).queue == "default.low"
    worker = manage(site, "joblane_worker", "-c", "1", "--queue", "default",
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_until(lambda: sample.wait_for_file.get_result(result.id).status == RUNNING,
                   timeout=30, what="the task RUNNING")  # fmt: skip
        running = sample.wait_for_file.get_result(result.id)
        assert running.started_at is not None and running.finished_at is None
        assert len(running.worker_ids) == 1 and running.attempts == 1
        flag.write_text("done")
        wait_until(lambda: sample.wait_for_file.get_result(result.id).is_finished, timeout=30)
    finally:
        worker.terminate()
        worker.wait(30)
    script = (
        "import django, json; django.setup()\n"
        "from tests.contrib.djtasks_sample import wait_for_file\n"
        f"r = wait_for_file.get_result({result.id!r})\n"
        "print(json.dumps([r.status, r.return_value, r.worker_ids, r.args]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, check=True, capture_output=True,
        env=dict(os.environ, DJANGO_SETTINGS_MODULE="djsite",
                 PYTHONPATH=os.pathsep.join([str(site), str(ROOT)])),
    ).stdout  # fmt: skip
    status, value, workers, args = json.loads(out)
    assert status == "SUCCESSFUL" and value == "done" and len(workers) == 1
    assert args == [str(flag)]


def test_tasks_on_django_s_postgresql_database(site: Path, sample: Any) -> None:
    """The worker's Django database is PostgreSQL: two slots forked from a
    worker that had used it, each task on its slot's own connection."""
    if PG not in settings.DATABASES:
        postgres_bin()  # skips (fails under JOBLANE_REQUIRE_SERVERS=1)
        pytest.skip("Django was configured without PostgreSQL in this process")
    with connections[PG].cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS task_rows (id SERIAL PRIMARY KEY, tag TEXT)")
        cursor.execute("DELETE FROM task_rows")
    results = [sample.record_row.enqueue(f"r{i}") for i in range(6)]
    run_burst(site, "djsite_pg")
    for result in results:
        result.refresh()
    assert [r.status for r in results] == [SUCCESSFUL] * 6
    assert [r.return_value for r in results] == [f"r{i}" for i in range(6)]
    with connections[PG].cursor() as cursor:
        cursor.execute("SELECT tag FROM task_rows ORDER BY tag")
        assert [row[0] for row in cursor.fetchall()] == [f"r{i}" for i in range(6)]


def test_an_immediate_url_runs_tasks_in_enqueue(sample: Any) -> None:
    """``OPTIONS["URL"] = "immediate://"``: no worker, each task run inside
    ``enqueue`` and recorded as a worker records it (for tests)."""
    tasks = {**settings.TASKS, "imm": {"BACKEND": "joblane.contrib.django.JoblaneBackend",
             "QUEUES": ["default", "emails"], "OPTIONS": {"URL": "immediate://"}}}  # fmt: skip
    finished: list[tuple[str, str]] = []

    def on_finished(sender: Any, task_result: Any, **kwargs: Any) -> None:
        finished.append((task_result.id, task_result.status))

    task_finished.connect(on_finished)
    try:
        with override_settings(TASKS=tasks):
            ok = sample.add.using(backend="imm").enqueue(2, 2)
            bad = sample.fail_always.using(backend="imm").enqueue("no")
            again = sample.add.using(backend="imm").get_result(ok.id)
    finally:
        task_finished.disconnect(on_finished)
    assert ok.status == SUCCESSFUL and ok.return_value == 4 and ok.attempts == 1
    assert again.return_value == 4 and again.finished_at == ok.finished_at
    assert bad.status == FAILED and bad.errors[0].exception_class is ValueError
    assert finished == [(ok.id, SUCCESSFUL), (bad.id, FAILED)]


def test_aenqueue_and_aget_result(sample: Any) -> None:
    import asyncio

    async def go() -> tuple[Any, Any]:
        result = await sample.add.aenqueue(1, 1)
        return result, await sample.add.aget_result(result.id)

    result, again = asyncio.run(go())
    assert again.id == result.id and again.status == READY and again.args == [1, 1]


def test_run_after_is_a_scheduled_job(sample: Any) -> None:
    later = timezone.now() + timedelta(hours=1)
    result = sample.add.using(run_after=later, priority=50).enqueue(1, 2)
    record = task_backends["default"].joblane_backend.get(result.id)
    assert record.status == "scheduled" and record.queue == "default.important"
    assert result.task.run_after == later and result.task.priority == 50
    assert sample.add.get_result(result.id).task.run_after == later


@pytest.mark.parametrize(("backend", "alias"), [("oncommit", "default"), ("oncommit_pg", PG)],
                         ids=["sqlite", "postgresql"])  # fmt: skip
def test_enqueue_on_commit_and_rollback(sample: Any, backend: str, alias: str) -> None:
    if alias not in settings.DATABASES:
        postgres_bin()
        pytest.skip("Django was configured without PostgreSQL in this process")
    on_commit = sample.add.using(backend=backend)
    with transaction.atomic(using=alias):
        kept = on_commit.enqueue(1, 2)
        with pytest.raises(TaskResultDoesNotExist):
            on_commit.get_result(kept.id)  # not stored before the commit
    assert on_commit.get_result(kept.id).status == READY
    with pytest.raises(RuntimeError), transaction.atomic(using=alias):
        dropped = on_commit.enqueue(3, 4)
        raise RuntimeError("roll back")
    with pytest.raises(TaskResultDoesNotExist):
        on_commit.get_result(dropped.id)


def test_in_transaction_the_job_commits_and_rolls_back_with_django_s_rows(sample: Any) -> None:
    """``IN_TRANSACTION`` on Django's own PostgreSQL database: the job is written
    in the transaction, through Django's connection (no after-commit window)."""
    if PG not in settings.DATABASES:
        postgres_bin()
        pytest.skip("Django was configured without PostgreSQL in this process")
    db = settings.DATABASES[PG]
    url = f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}?schema=jl_tasks"
    tasks = {**settings.TASKS, "intx": {"BACKEND": "joblane.contrib.django.JoblaneBackend",
             "QUEUES": ["default"], "OPTIONS": {"URL": url, "DATABASE": PG,
                                                "IN_TRANSACTION": True}}}  # fmt: skip
    with override_settings(TASKS=tasks):
        in_tx = sample.add.using(backend="intx")
        store = task_backends["intx"].joblane_backend
        with connections[PG].cursor() as cursor:
            cursor.execute("CREATE TABLE IF NOT EXISTS intx_rows (tag TEXT)")
            cursor.execute("DELETE FROM intx_rows")
        with transaction.atomic(using=PG):
            with connections[PG].cursor() as cursor:
                cursor.execute("INSERT INTO intx_rows VALUES ('kept')")
            kept = in_tx.enqueue(1, 2)
            assert store.get(kept.id) is None  # written, but not committed yet
        assert store.get(kept.id) is not None and in_tx.get_result(kept.id).status == READY
        with pytest.raises(RuntimeError), transaction.atomic(using=PG):
            with connections[PG].cursor() as cursor:
                cursor.execute("INSERT INTO intx_rows VALUES ('dropped')")
            dropped = in_tx.enqueue(3, 4)
            raise RuntimeError("roll back")
        assert store.get(dropped.id) is None
        with connections[PG].cursor() as cursor:
            cursor.execute("SELECT tag FROM intx_rows")
            assert [row[0] for row in cursor.fetchall()] == ["kept"]
        outside = in_tx.enqueue(5, 6)  # no transaction: stored at once
        assert store.get(outside.id) is not None


def test_in_transaction_needs_postgresql_and_excludes_on_commit() -> None:
    backend = "joblane.contrib.django.JoblaneBackend"
    for options, message in [
        ({"URL": "sqlite:///x.db", "IN_TRANSACTION": True}, "needs a postgresql:// URL"),
        ({"URL": "postgresql://u@h/db", "IN_TRANSACTION": True, "ENQUEUE_ON_COMMIT": True},
         "choose one"),
        ({"URL": "sqlite:///x.db", "IN_TRANSACTION": "yes"}, "must be True or False"),
    ]:  # fmt: skip
        tasks = {**settings.TASKS, "bad": {"BACKEND": backend, "OPTIONS": options}}
        with override_settings(TASKS=tasks), pytest.raises(InvalidTaskBackendError, match=message):
            task_backends["bad"]


def test_unknown_ids_and_tasks_of_other_kinds(sample: Any) -> None:
    backend = task_backends["default"]
    with pytest.raises(TaskResultDoesNotExist):
        backend.get_result("0" * 32)
    with pytest.raises(TaskResultDoesNotExist):
        backend.get_result("not/an id")
    plain = Queue("default.normal", backend=backend.joblane_backend).enqueue(
        "tests.jobs.sample.add", 1, 2
    )
    with pytest.raises(TaskResultDoesNotExist):
        backend.get_result(plain.id)


def test_priority_tiers_and_queue_names() -> None:
    assert [tier(p) for p in (100, 1, 0, -1, -100)] == [
        "important", "important", "normal", "low", "low"]  # fmt: skip
    assert joblane_queue("emails", 3) == "emails.important"
    assert worker_queues(["a", "b"]) == [
        "a.important", "b.important", "a.normal", "b.normal", "a.low", "b.low"]  # fmt: skip


def test_bad_settings_are_refused_or_reported(sample: Any) -> None:
    with pytest.raises(InvalidTaskBackendError, match="unknown keys"):
        JoblaneBackend("x", {"OPTIONS": {"URL": "sqlite:///x.db", "TIMEOUT": 3}})
    with pytest.raises(InvalidTaskBackendError, match="job_timeout"):
        JoblaneBackend("x", {"OPTIONS": {"JOB_TIMEOUT": "soon"}})
    with pytest.raises(InvalidTaskBackendError, match="ENQUEUE_ON_COMMIT"):
        JoblaneBackend("x", {"OPTIONS": {"ENQUEUE_ON_COMMIT": "yes"}})
    odd = JoblaneBackend("x", {"QUEUES": ["ok", "no spaces"], "OPTIONS": {"URL": "nosuch://h"}})
    ids = [m.id for m in odd.check()]
    assert ids == ["joblane.E001", "joblane.E002"]
    memory = JoblaneBackend("m", {"OPTIONS": {"URL": "memory://"}})
    assert [m.id for m in memory.check()] == ["joblane.W001"]
    with pytest.raises(InvalidTaskError, match="not valid"):
        sample.add.using(queue_name="elsewhere")
    assert [m for m in task_backends["default"].check()] == []
    assert not [m for m in checks.run_checks() if m.id.startswith("joblane.")]


@pytest.mark.parametrize("apps", [[], ["django_tasks"]], ids=["joblane-app", "both-apps"])
def test_system_checks_run_once_with_or_without_django_tasks_app(apps: list[str]) -> None:
    """joblane's app runs the TASKS checks where the backport's app does not."""
    script = (
        "import django\n"
        "from django.conf import settings\n"
        "settings.configure(INSTALLED_APPS=['django.contrib.contenttypes',\n"
        f"    'django.contrib.auth', 'joblane.contrib.django', *{apps!r}],\n"
        "    DATABASES={'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': ':memory:'}},\n"
        "    TASKS={'default': {'BACKEND': 'joblane.contrib.django.JoblaneBackend',\n"
        "                       'OPTIONS': {'URL': 'nosuch://x'}}})\n"
        "django.setup()\n"
        "from django.core import checks\n"
        "print(' '.join(m.id for m in checks.run_checks()))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, check=True)  # fmt: skip
    assert done.stdout.split() == ["joblane.E001"]


def test_joblane_info(sample: Any, capsys: pytest.CaptureFixture[str]) -> None:
    call_command("joblane_info")
    out = capsys.readouterr().out
    assert "tasks framework: django_tasks" in out
    assert "'emails' important -> emails.important" in out


def test_joblane_worker_refuses_what_it_cannot_serve(sample: Any) -> None:
    with pytest.raises(CommandError, match=r"\['nowhere'\] not in TASKS\['default'\]"):
        call_command("joblane_worker", "--queue", "nowhere", "--burst")
    tasks = {**settings.TASKS, "dummy": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    with override_settings(TASKS=tasks), pytest.raises(CommandError, match="DummyBackend, not"):
        call_command("joblane_worker", "--backend", "dummy", "--burst")


# -- seed 002: background ------------------------------------------------------

CALLS: list[tuple[Any, ...]] = []


def remember(*args: Any, **kwargs: Any) -> None:
    CALLS.append((args, kwargs))


@pytest.fixture
def background() -> Iterator[Any]:
    from joblane.contrib.django.background import background

    background.reset()
    CALLS.clear()
    yield background
    background.reset()


def test_background_default_runs_inline_and_cannot_defer(background: Any) -> None:
    from joblane.contrib.django.background import ImmediateBackend

    background.enqueue(remember, args=[1], kwargs={"b": 2})
    assert CALLS == [((1,), {"b": 2})]
    assert isinstance(background.backend, ImmediateBackend)
    assert not hasattr(ImmediateBackend, "defer")
    with pytest.raises(ImproperlyConfigured, match="cannot schedule"):
        background.defer(remember, args=[], kwargs={}, when=timezone.now())


def test_background_on_joblane_enqueues_and_defers(background: Any, tmp_path: Path) -> None:
    import asyncio

    url = f"sqlite:///{tmp_path / 'bg.db'}"
    config = {"BACKEND": "joblane.contrib.django.background.JobBackend",
              "OPTIONS": {"URL": url, "QUEUE": "low"}, "SCHEDULE": True}  # fmt: skip
    with override_settings(JOBLANE_BACKGROUND=config):
        background.enqueue(remember, args=[1], kwargs={})
        background.defer(remember, args=[2], kwargs={}, when=timezone.now() + timedelta(hours=1))
        asyncio.run(background.aenqueue(remember, args=[3], kwargs={}))
        queue = Queue("low", url=url)
        assert [j.args for j in queue.get_jobs()] == [[1], [3]]
        assert [j.args for j in queue.scheduled_job_registry.get_jobs()] == [[2]]
        assert CALLS == []
        assert not [m for m in checks.run_checks() if m.id.startswith("joblane.")]


def test_background_check_refuses_schedule_without_defer(background: Any) -> None:
    config = {"BACKEND": "joblane.contrib.django.background.ImmediateBackend", "SCHEDULE": True}
    with override_settings(JOBLANE_BACKGROUND=config):
        assert [m.id for m in checks.run_checks() if m.id.startswith("joblane.")] == [
            "joblane.E010"]  # fmt: skip
        with pytest.raises(ImproperlyConfigured, match="cannot schedule"):
            background.enqueue(remember)
