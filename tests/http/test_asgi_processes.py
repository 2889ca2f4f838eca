"""HTTP tasks end to end: a real ASGI app under uvicorn (tests/http/asgiapp.py),
real `joblane worker` processes importing joblane.http, a SQLite file between."""

from __future__ import annotations

import httpx
import pytest

import joblane.http
from joblane import Job, JobStatus, Queue, Retry
from joblane.identity import acting_as
from tests.http.conftest import App, start_http_worker
from tests.worker.conftest import WorkerProcesses, wait_until

pytestmark = pytest.mark.slow


def ended(queue: Queue, task_id: str) -> Job:
    job = Job.fetch(task_id, backend=queue.backend)
    wait_until(lambda: job.refresh().status in (JobStatus.FINISHED, JobStatus.FAILED), 60,
               f"task {task_id} to end")  # fmt: skip
    return job


def test_signed_request_arrives_as_its_user_and_a_replay_is_refused(
    asgi_app: App, http_workers: WorkerProcesses, queue: Queue
) -> None:
    asgi_app.start()
    start_http_worker(http_workers)
    with acting_as("alice"):
        task_id = joblane.http.add(
            "/record", method="POST", params={"a": "1"}, payload='{"x": 1}',
            headers={"Content-Type": "application/json", "X-Extra": "yes"}, queue=queue,
        )  # fmt: skip
    job = ended(queue, task_id)
    assert job.status is JobStatus.FINISHED, job.last_job_result
    (line,) = asgi_app.lines()
    assert line["user"] == "alice" and line["task_id"] == task_id == line["current_task"]
    assert line["headers"]["x-task-id"] == task_id
    assert line["headers"]["x-task-user-id"] == "alice"
    assert line["headers"]["x-extra"] == "yes"
    assert (line["method"], line["query"], line["body"]) == ("POST", "a=1", '{"x": 1}')
    assert job.return_value["status"] == 200
    assert job.return_value["body"] == "recorded /record"

    # The same request, sent again byte for byte: refused, not recorded again.
    sent = {k: v for k, v in line["headers"].items() if k.startswith("x-")}
    sent["content-type"] = "application/json"
    again = httpx.post(f"{asgi_app.base_url}/record?a=1", headers=sent, content='{"x": 1}')
    assert again.status_code == 401 and "seen before" in again.text
    # The signature of alice's request does not carry another user.
    forged = dict(sent, **{"x-task-user-id": "admin"})
    assert httpx.post(f"{asgi_app.base_url}/record?a=1", headers=forged,
                      content='{"x": 1}').status_code == 401  # fmt: skip
    assert len(asgi_app.lines()) == 1


def test_forged_user_id_without_a_signature_is_refused(asgi_app: App) -> None:
    asgi_app.start()
    forged = httpx.get(f"{asgi_app.base_url}/record",
                       headers={"X-Task-Id": "x", "X-Task-User-Id": "admin"})  # fmt: skip
    assert forged.status_code == 401 and "X-Task-Signature" in forged.text
    plain = httpx.get(f"{asgi_app.base_url}/record")  # an ordinary request goes on, as no one
    assert plain.status_code == 200
    (line,) = asgi_app.lines()
    assert line["user"] is None and line["task_id"] is None


def test_503_then_200_is_retried_to_success(
    asgi_app: App, http_workers: WorkerProcesses, queue: Queue
) -> None:
    asgi_app.start()
    start_http_worker(http_workers)
    task_id = joblane.http.add("/flaky/one", queue=queue, retry=Retry(max=3, interval=0.2))
    job = ended(queue, task_id)
    assert job.status is JobStatus.FINISHED, job.last_job_result
    assert job.attempts == 3 and job.return_value["status"] == 200
    assert "HTTP 503" in (job.last_job_result or "")  # the last failed attempt's reason
    assert len(asgi_app.lines()) == 1


def test_404_fails_at_once(asgi_app: App, http_workers: WorkerProcesses, queue: Queue) -> None:
    asgi_app.start()
    start_http_worker(http_workers)
    task_id = joblane.http.add("/missing", queue=queue, retry=Retry(max=3, interval=0.2))
    job = ended(queue, task_id)
    assert job.status is JobStatus.FAILED and job.attempts == 1 and job.retries_left == 3
    reason = job.last_job_result or ""
    assert "HttpTaskRefusedError: HTTP 404 from GET" in reason and "recorded /missing" in reason


def test_app_down_then_up_loses_no_task(
    asgi_app: App, http_workers: WorkerProcesses, queue: Queue
) -> None:
    start_http_worker(http_workers)
    ids = [joblane.http.add("/record", params={"n": n}, queue=queue,
                            retry=Retry(max=100, interval=0.3)) for n in range(5)]  # fmt: skip
    wait_until(lambda: all(Job.fetch(i, backend=queue.backend).attempts >= 2 for i in ids), 60,
               "attempts against the app while it is down")  # fmt: skip
    assert "no response" in (Job.fetch(ids[0], backend=queue.backend).last_job_result or "")
    asgi_app.start()
    for task_id in ids:
        assert ended(queue, task_id).status is JobStatus.FINISHED
    assert sorted(line["query"] for line in asgi_app.lines()) == [f"n={n}" for n in range(5)]


def test_a_view_queues_a_task_copying_its_request(
    asgi_app: App, http_workers: WorkerProcesses, queue: Queue
) -> None:
    asgi_app.start()
    start_http_worker(http_workers)
    answer = httpx.post(f"{asgi_app.base_url}/enqueue", content="form=1&b=2",
                        headers={"X-Demo-User": "bob", "X-Carried": "along",
                                 "Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    task_id = answer.json()["task_id"]
    assert ended(queue, task_id).status is JobStatus.FINISHED
    (line,) = asgi_app.lines()
    assert line["user"] == "bob" and line["body"] == "form=1&b=2"
    assert line["headers"]["x-carried"] == "along" and line["query"] == "from=enqueue"
    assert line["content_type"] == "application/x-www-form-urlencoded"


def test_redirects_are_followed_within_the_app_only(
    asgi_app: App, http_workers: WorkerProcesses, queue: Queue
) -> None:
    asgi_app.start()
    start_http_worker(http_workers)
    same = joblane.http.add("/redirect/same", method="POST", payload="p", queue=queue)
    away = joblane.http.add("/redirect/away", queue=queue, retry=Retry(max=3, interval=0.2))
    followed = ended(queue, same)
    assert followed.status is JobStatus.FINISHED, followed.last_job_result
    assert followed.return_value["url"] == f"{asgi_app.base_url}/record?via=redirect"
    (line,) = asgi_app.lines()  # signed anew, and a GET after a 303
    assert (line["method"], line["query"], line["user"]) == ("GET", "via=redirect", None)
    assert line["task_id"] == same
    refused = ended(queue, away)
    assert refused.status is JobStatus.FAILED and refused.attempts == 1
    assert "a redirect to another origin (http://elsewhere.invalid/record)" in (
        refused.last_job_result or ""
    )


def test_a_url_with_encoded_parts_is_signed_as_the_app_reads_it(
    asgi_app: App, http_workers: WorkerProcesses, queue: Queue
) -> None:
    asgi_app.start()
    start_http_worker(http_workers)
    task_id = joblane.http.add("/record?q=ä b&c=%2F", params={"d": "é/&"}, queue=queue)
    assert ended(queue, task_id).status is JobStatus.FINISHED
    (line,) = asgi_app.lines()
    assert line["query"] == "q=%C3%A4%20b&c=%2F&d=%C3%A9%2F%26" and line["task_id"] == task_id
