"""HTTP tasks to a real Django app (tests/http/djangoapp.py, served by wsgiref
in a subprocess, behind joblane.http.django.TaskRequestMiddleware), sent by a
real worker process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import joblane.http
from joblane import Job, JobStatus, Queue
from joblane.identity import acting_as
from tests.http.conftest import SECRET, App, app_env, start_http_worker
from tests.worker.conftest import WorkerProcesses, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def django_app(tmp_path: Path, db_url: str) -> Iterator[App]:
    app = App("tests.http.djangoapp", tmp_path, {})
    app.env.update(app_env(app.base_url, db_url))
    joblane.http.configure(base_url=app.base_url, secrets=[SECRET])
    yield app.start()
    app.stop()


def ended(queue: Queue, task_id: str) -> Job:
    job = Job.fetch(task_id, backend=queue.backend)
    wait_until(lambda: job.refresh().status in (JobStatus.FINISHED, JobStatus.FAILED), 60,
               f"task {task_id} to end")  # fmt: skip
    return job


def test_a_task_is_served_as_the_user_who_queued_it(
    django_app: App, http_workers: WorkerProcesses, queue: Queue
) -> None:
    start_http_worker(http_workers)
    with acting_as("7"):
        as_alice = joblane.http.add("/whoami", method="POST", payload="hi", queue=queue,
                                    params={"n": "1"})  # fmt: skip
    nobody = joblane.http.add("/whoami", queue=queue)  # enqueued by no one: anonymous
    with acting_as("999"):
        ghost = joblane.http.add("/whoami", queue=queue)
    assert ended(queue, as_alice).status is JobStatus.FINISHED
    assert ended(queue, nobody).status is JobStatus.FINISHED
    gone = ended(queue, ghost)  # no such user: 401, a 4xx, failed at once
    assert gone.status is JobStatus.FAILED and gone.attempts == 1
    assert "HTTP 401" in (gone.last_job_result or "")
    lines = {line["task_id"]: line for line in django_app.lines()}
    assert set(lines) == {as_alice, nobody}
    assert lines[as_alice]["user"] == "alice" and lines[as_alice]["body"] == "hi"
    assert lines[as_alice]["query"] == "n=1"
    assert lines[nobody]["user"] is None


def test_a_forged_user_id_is_refused_before_any_view(django_app: App) -> None:
    url = f"{django_app.base_url}/whoami"
    forged = httpx.get(url, headers={"X-Task-Id": "t1", "X-Task-User-Id": "7"})
    assert forged.status_code == 401
    signature = f"t=1,n={'0' * 32},v1={'0' * 64}"
    bad = httpx.get(
        url, headers={"X-Task-Id": "t1", "X-Task-User-Id": "7", "X-Task-Signature": signature}
    )
    assert bad.status_code == 401 and "does not match" in bad.text
    assert httpx.get(url).text == "hello None"
    assert [line["user"] for line in django_app.lines()] == [None]
