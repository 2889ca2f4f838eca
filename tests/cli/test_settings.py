"""``joblane worker --settings``: an arq-style settings class run by a real worker
process, its tasks enqueued by short name, command-line options over settings."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

from joblane import tasks
from joblane.client import Job, Queue
from joblane.config import backend_from_url
from joblane.core.states import JobStatus
from tests.cli.conftest import Cli, assert_one_error_line, clean_environ, run_joblane

SETTINGS = "tests.jobs.arqstyle:WorkerSettings"


def test_a_settings_class_runs_its_tasks_by_short_name(db_url: str, tmp_path: Path) -> None:
    queue = Queue(backend=backend_from_url(db_url))
    with mock.patch.dict(tasks._TASKS, clear=True):  # a producer without a registry
        invoice = queue.enqueue("send_invoice_email", invoice_id=7)
        report = queue.enqueue("report", "sales")
        typo = queue.enqueue("send_invoice_mail", invoice_id=8)
    done = run_joblane("--url", db_url, "worker", "--settings", SETTINGS, "--burst", "-c", "1",
                       timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "tasks send_invoice_email, report" in done.stderr  # logged at start

    result = Job.fetch(invoice.id, backend=queue.backend)
    assert result.status is JobStatus.FINISHED, result.last_job_result
    value = result.return_value
    assert value["invoice_id"] == 7 and value["job_id"] == invoice.id and value["try"] == 1
    assert value["client"] == f"client of {value['pid']}"  # on_startup's, in the same slot
    assert (
        Job.fetch(report.id, backend=queue.backend).return_value == f"report sales for {report.id}"
    )

    failed = Job.fetch(typo.id, backend=queue.backend)
    assert failed.status is JobStatus.FAILED
    assert failed.last_job_result is not None
    assert failed.last_job_result.startswith("UnknownTaskError: no task named 'send_invoice_mail'")
    assert "its tasks: report, send_invoice_email" in failed.last_job_result


def test_on_shutdown_runs_and_the_command_line_wins(db_url: str, tmp_path: Path) -> None:
    marker = tmp_path / "shutdown.txt"
    env = clean_environ(ARQSTYLE_SHUTDOWN_FILE=str(marker), JOBLANE_SETTINGS=SETTINGS)
    with mock.patch.dict(tasks._TASKS, clear=True):
        Queue(backend=backend_from_url(db_url)).enqueue("send_invoice_email", invoice_id=1)
    # -c 2 on the command line: two slots, each runs on_shutdown once.
    done = run_joblane("--url", db_url, "worker", "--burst", "-c", "2", env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert len(marker.read_text().split()) == 2


def test_bad_settings_stop_the_worker_with_one_line(cli: Cli) -> None:
    assert_one_error_line(
        cli("worker", "--settings", "tests.jobs.arqstyle:Missing", "--burst"),
        1, "tests.jobs.arqstyle has no 'Missing'",
    )  # fmt: skip
