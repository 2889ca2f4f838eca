"""The API shows an HTTP task's method, path and last response status (key
``http``), and only for such a job: seed 000's keys are unchanged (every
response is checked against openapi.json). The tasks really run: `send`
against a real wsgiref server in a thread."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

import joblane.http
from joblane import Queue, Retry
from joblane.http import settings as http_settings
from tests.monitor.conftest import CheckedClient, Filled, run_next
from tests.monitor.test_shapes import SEED_JOB_KEYS


class Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def status_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Answers ``/status/<code>`` with that status."""
    code = environ["PATH_INFO"].rsplit("/", 1)[-1]
    start_response(f"{code} Whatever", [("Content-Type", "text/plain")])
    return [f"answered {code}".encode()]


@pytest.fixture
def app_url() -> Iterator[str]:
    server = make_server("127.0.0.1", 0, status_app, handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    joblane.http.configure(base_url=url, secrets=["monitor-test-secret-0123456789"])
    yield url
    http_settings.reset()
    server.shutdown()
    server.server_close()


def test_an_http_task_shows_its_method_path_and_last_status(
    client: CheckedClient, filled: Filled, app_url: str
) -> None:
    queue = Queue("normal", backend=filled.backend)
    queue.empty()
    now = filled.clock.now()
    ok = joblane.http.add("/status/200", method="POST", payload="x", params={"q": "1"},
                          queue=queue)  # fmt: skip
    run_next(filled.backend, "normal", now)
    flaky = joblane.http.add("/status/503", queue=queue, retry=Retry(max=2, interval=0))
    run_next(filled.backend, "normal", now)
    gone = joblane.http.add("/status/404", queue=queue, retry=Retry(max=2, interval=0))
    waiting = joblane.http.add("/status/200", queue=queue)
    job = client.get(f"/Plone/@rq-job/normal/{ok}").json()
    assert list(job) == [*SEED_JOB_KEYS, "http"]
    assert job["http"] == {"method": "POST", "path": "/status/200?q=1", "last_status": 200}
    job = client.get(f"/Plone/@rq-job/normal/{flaky}").json()  # queued again, for its retry
    assert job["http"] == {"method": "GET", "path": "/status/503", "last_status": 503}
    run_next(filled.backend, "normal", now)  # the 503's retry, queued before the others
    run_next(filled.backend, "normal", now)  # the 404: failed at once
    job = client.get(f"/Plone/@rq-job/normal/{gone}").json()
    assert job["http"]["last_status"] == 404 and job["retries_left"] == 2
    assert "HttpTaskRefusedError: HTTP 404 from GET" in job["last_job_result"]
    job = client.get(f"/Plone/@rq-job/normal/{waiting}").json()
    assert job["http"] == {"method": "GET", "path": "/status/200", "last_status": None}
    plain = client.get("/Plone/@rq-job/normal/job-finished").json()
    assert list(plain) == SEED_JOB_KEYS
