"""Worker settings in arq's style and task names (joblane.settings, joblane.tasks)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

import tests.jobs.arqstyle as arqstyle
from joblane import tasks
from joblane.client import Queue
from joblane.config import backend_from_url
from joblane.core.job import KEEP_FOREVER
from joblane.core.retry import Retry
from joblane.core.serialization import encode_call
from joblane.errors import InvalidFunctionError, InvalidJobError, SettingsError
from joblane.settings import DEFAULT_MAX_TRIES, func, load, load_object
from joblane.tasks import AllowPolicy, UnknownTask, canonical, defaults_for, job, register, resolve
from joblane.worker.run import run_job


@pytest.fixture(autouse=True)
def fresh_tasks() -> Iterator[None]:
    """Each test starts with no task names registered, and leaves the registries as found."""
    registries: tuple[dict[str, Any], ...] = (tasks._TASKS, tasks._REGISTRY, tasks._GIVEN)
    saved = [(registry, dict(registry)) for registry in registries]
    tasks._TASKS.clear()
    yield
    for registry, before in saved:
        registry.clear()
        registry.update(before)


@pytest.fixture
def queue() -> Queue:
    return Queue("default", backend=backend_from_url("memory://"))


def sample_task(x: int) -> int:
    return x


def other_task(x: int) -> int:
    return -x


# -- task names ---------------------------------------------------------------------


def test_a_registered_task_is_enqueued_by_its_short_name(queue: Queue) -> None:
    assert register(sample_task) == "sample_task"
    job = queue.enqueue("sample_task", 3)
    assert job.func_name == "sample_task"  # stored short: the worker maps it
    assert canonical("sample_task") == f"{__name__}.sample_task"
    assert resolve("sample_task", AllowPolicy()) is sample_task
    assert run_job("sample_task", encode_call((4,), {}), AllowPolicy()).result == b"4"


def test_with_a_registry_an_unknown_short_name_fails_at_enqueue(queue: Queue) -> None:
    register(sample_task)
    register(other_task, name="negate")
    with pytest.raises(
        InvalidFunctionError, match=r"no task named 'sampel_task'.*negate, sample_task"
    ):
        queue.enqueue("sampel_task", 1)
    assert queue.count == 0


def test_without_a_registry_the_worker_fails_the_job_naming_its_tasks(queue: Queue) -> None:
    job = queue.enqueue("send_invoice_mail", invoice_id=1)  # the producer cannot know
    assert job.func_name == "send_invoice_mail"
    register(sample_task)  # what the worker has
    outcome = run_job(job.func_name, encode_call((), {"invoice_id": 1}), AllowPolicy())
    assert outcome.error is not None
    assert outcome.error.startswith("UnknownTaskError: no task named 'send_invoice_mail'")
    assert "its tasks: sample_task" in outcome.error and not outcome.retryable
    with pytest.raises(UnknownTask):
        AllowPolicy().check_name("send_invoice_mail")


def test_a_name_is_registered_once(queue: Queue) -> None:
    register(sample_task)
    register(sample_task)  # the same function again: fine
    with pytest.raises(InvalidJobError, match=r"already registered for .*sample_task"):
        register(other_task, name="sample_task")
    with pytest.raises(InvalidFunctionError, match="must be an identifier"):
        register(other_task, name="not-a-name")


@job(job_timeout=5)
def timed_task() -> None:
    return None


def test_settings_defaults_sit_beneath_the_functions_own_job_options() -> None:
    load_object({"functions": [timed_task, sample_task], "job_timeout": 9, "keep_result": 60})
    options = defaults_for("timed_task")
    assert options is not None and options.job_timeout == 5 and options.result_ttl == 60
    plain = defaults_for("sample_task")
    assert plain is not None and plain.job_timeout == 9
    assert tasks.takes_context("timed_task") and tasks.takes_context("sample_task")
    register(timed_task, job_timeout=7)  # a registration's own options win
    again = defaults_for("timed_task")
    assert again is not None and again.job_timeout == 7


# -- settings -----------------------------------------------------------------------


def test_a_settings_class_registers_its_functions_with_its_defaults() -> None:
    loaded = load("tests.jobs.arqstyle:WorkerSettings")
    assert loaded.tasks == {
        "send_invoice_email": "tests.jobs.arqstyle.send_invoice_email",
        "report": "tests.jobs.arqstyle.render_report",
    }
    assert loaded.jobs_per_slot == 10
    assert set(loaded.hooks) == {"on_startup", "on_shutdown"}
    assert loaded.hooks["on_startup"] is arqstyle.warm_caches
    options = defaults_for("send_invoice_email")
    assert options is not None and options.job_timeout == 60
    assert isinstance(options.retry, Retry) and options.retry.max == 2  # max_tries = 3
    assert options.retry.factor == 2 and options.retry.jitter  # back-off by default
    report = defaults_for("report")
    assert report is not None and report.job_timeout == 30  # func(timeout=) wins


def test_arqs_dotted_form_and_a_module_with_a_tasks_list() -> None:
    assert load("tests.jobs.arqstyle.WorkerSettings").jobs_per_slot == 10
    tasks._TASKS.clear()
    assert load("tests.jobs.arqstyle").jobs_per_slot == 10  # its WorkerSettings
    tasks._TASKS.clear()
    loaded = load("tests.jobs.arqtasks")
    assert sorted(loaded.tasks) == ["flaky_task", "send_invoice_email"]
    options = defaults_for("flaky_task")
    assert options is not None and isinstance(options.retry, Retry)
    assert options.retry.max == DEFAULT_MAX_TRIES - 1


def test_an_arq_settings_dict_and_func_options() -> None:
    loaded = load_object(
        {
            "functions": [func(sample_task, name="double", max_tries=1, keep_result_forever=True)],
            "queue_name": "mail",
            "keep_result": 120,
        }
    )
    assert loaded.queues == ("mail",) and loaded.tasks == {"double": f"{__name__}.sample_task"}
    options = defaults_for("double")
    assert options is not None and options.retry is None and options.result_ttl == KEEP_FOREVER


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"functions": [sample_task], "max_job": 5}, r"unknown setting max_job in"),
        ({"redis_settings": object()}, r"redis_settings is not supported: .*JOBLANE_URL"),
        ({"max_jobs": 0}, r"max_jobs must be an int >= 1, not 0"),
        ({"max_tries": 0}, r"max_tries must be an int >= 1"),
        ({"job_timeout": "soon"}, r"job_timeout must be seconds"),
        ({"functions": [sample_task], "tasks": [sample_task]}, "both functions and tasks"),
        ({"functions": ["os.getpid"]}, r"'os.getpid' in functions is not a function"),
        ({"functions": sample_task}, r"functions must be a list"),
        ({"on_startup": "warm"}, r"on_startup must be a function taking ctx"),
        ({"queue_name": "bad name!"}, r"queue"),
        ({"cron_jobs": "0 3 * * *"}, r"cron_jobs must be a list"),
        ({"functions": [lambda ctx: None]}, r"cannot register .*lambda"),
    ],
)
def test_bad_settings_are_refused_naming_the_setting(
    settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        load_object(settings, source="app.worker:WorkerSettings")


def test_ignored_arq_knobs_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="joblane.settings"):
        load_object({"functions": [sample_task], "poll_delay": 0.5})
    assert "poll_delay is ignored" in caplog.text


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("tests.jobs.nosuchmodule:WorkerSettings", r"No module named 'tests.jobs.nosuchmodule'"),
        ("tests.jobs.arqstyle:Nope", r"tests.jobs.arqstyle has no 'Nope'"),
        ("tests.jobs.explodes_on_import", r"importing tests.jobs.explodes_on_import raised"),
        ("", r"settings must be given"),
    ],
)
def test_settings_that_cannot_be_loaded(spec: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load(spec)
