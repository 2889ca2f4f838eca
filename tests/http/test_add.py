"""joblane.http.add / aadd: what a task stores, every refusal at add, and the
transaction it joins (no worker, no app: the stored job is read back)."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import pytest
import transaction

import joblane
import joblane.http
from joblane import Job, Queue
from joblane.backends.base import Backend
from joblane.contrib.transaction import install
from joblane.errors import (
    ConfigurationError,
    InvalidHttpTaskError,
    JobNotStoredError,
    PayloadTooLargeError,
)
from joblane.http.current import CurrentRequest, serving
from joblane.identity import acting_as
from tests.http.conftest import SECRET

BASE = "http://app.example:8080/site"


@pytest.fixture(autouse=True)
def _configured() -> None:
    joblane.http.configure(base_url=BASE, secrets=[SECRET], max_body=1000)


def kwargs(queue: Queue, task_id: str) -> dict[str, object]:
    job = Job.fetch(task_id, backend=queue.backend)
    assert job.func_name == "joblane.http.sender.send"
    return job.kwargs


def test_a_path_is_resolved_against_the_base_url_and_params_appended(queue: Queue) -> None:
    task = joblane.http.add("/site/folder/@@view", params={"a": "1", "b": "x y"}, queue=queue)
    stored = kwargs(queue, task)
    assert stored["url"] == "http://app.example:8080/site/folder/@@view?a=1&b=x+y"
    assert stored["method"] == "GET" and stored["body"] is None and stored["headers"] == []
    relative = joblane.http.add("folder/view?keep=1", params=[("c", 3)], queue=queue)
    assert kwargs(queue, relative)["url"] == "http://app.example:8080/site/folder/view?keep=1&c=3"
    full = joblane.http.add("http://app.example:8080/site/x y?q=ä b&r=%41", queue=queue)
    assert kwargs(queue, full)["url"] == "http://app.example:8080/site/x%20y?q=%C3%A4%20b&r=%41"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://other.example:8080/site/x", "outside the app"),
        ("https://app.example:8080/site/x", "outside the app"),
        ("http://app.example:9090/site/x", "outside the app"),
        ("//evil.example/site/x", "outside the app"),
        ("ftp://app.example/site/x", "is not http or https"),
        ("javascript:alert(1)", "is not http or https"),
        ("/elsewhere/x", "outside the app's path"),
        ("http://user:pw@app.example:8080/site/x", "user or password"),
        ("/site/x\r\nX-Evil: 1", "CR, LF or NUL"),
        ("", "non-empty"),
    ],
)
def test_a_url_outside_the_app_is_refused_at_add(queue: Queue, url: str, says: str) -> None:
    with pytest.raises(InvalidHttpTaskError, match=says):
        joblane.http.add(url, queue=queue)
    assert len(queue) == 0


@pytest.mark.parametrize(
    ("headers", "says"),
    [
        ({"X-Bad": "a\r\nSet-Cookie: x=1"}, "CR, LF or NUL"),
        ({"X-Bad": "a\nb"}, "CR, LF or NUL"),
        ({"Bad Name": "a"}, "not a valid HTTP token"),
        ({"X-Task-User-Id": "admin"}, "set by the worker"),
        ({"x-task-signature": "t=1"}, "set by the worker"),
        ({"X-Num": 1}, "must be a str"),
    ],
)
def test_bad_headers_are_refused(queue: Queue, headers: dict[str, object], says: str) -> None:
    with pytest.raises(InvalidHttpTaskError, match=says):
        joblane.http.add("/site/x", headers=headers, queue=queue)  # type: ignore[arg-type]


def test_method_payload_and_options_are_checked(queue: Queue) -> None:
    with pytest.raises(InvalidHttpTaskError, match="'GET' or 'POST'"):
        joblane.http.add("/site/x", method="DELETE", queue=queue)
    with pytest.raises(InvalidHttpTaskError, match="a GET task has no payload"):
        joblane.http.add("/site/x", payload="body", queue=queue)
    with pytest.raises(PayloadTooLargeError, match="1001 bytes, over the limit of 1000"):
        joblane.http.add("/site/x", method="POST", payload=b"x" * 1001, queue=queue)
    with pytest.raises(InvalidHttpTaskError, match="bytes, str or None"):
        joblane.http.add("/site/x", method="POST", payload={"a": 1}, queue=queue)  # type: ignore[arg-type]
    with pytest.raises(InvalidHttpTaskError, match=r"unknown argument\(s\) \['retries'\]"):
        joblane.http.add("/site/x", queue=queue, retries=3)
    assert len(queue) == 0


def test_binary_payload_and_job_options_are_kept(queue: Queue) -> None:
    task = joblane.http.add("/site/x", method="post", payload=b"\xff\x00", queue=queue,
                            job_id="my-task", job_timeout=60)  # fmt: skip
    assert task == "my-task"
    stored = kwargs(queue, task)
    assert stored["method"] == "POST" and stored["body_encoding"] == "base64"
    assert base64.b64decode(str(stored["body"])) == b"\xff\x00"
    assert Job.fetch(task, backend=queue.backend).record.job_timeout == 60


def test_the_enqueuing_user_is_the_jobs_identity(queue: Queue) -> None:
    with acting_as("alice", site="/plone"):
        task = joblane.http.add("/site/x", queue=queue)
    by = Job.fetch(task, backend=queue.backend).record.enqueued_by
    assert by is not None and by.user_id == "alice" and by.context == {"site": "/plone"}


def test_inside_a_request_its_headers_and_body_are_copied(queue: Queue) -> None:
    request = CurrentRequest("POST", (("Host", "app.example"), ("Cookie", "__ac=abc"),
                                      ("Content-Type", "text/plain"), ("Content-Length", "5"),
                                      ("X-Task-User-Id", "forged"), ("Accept", "a"),
                                      ("Accept", "b")), b"hello")  # fmt: skip
    with serving(request, None):
        post = joblane.http.add("/site/x", method="POST", headers={"accept": "c"}, queue=queue)
        get = joblane.http.add("/site/y", queue=queue)
        bare = joblane.http.add("/site/z", method="POST", payload=None, copy_headers=False,
                                queue=queue)  # fmt: skip
    stored = kwargs(queue, post)
    assert stored["headers"] == [["Content-Type", "text/plain"], ["Cookie", "__ac=abc"],
                                 ["accept", "c"]]  # fmt: skip
    assert stored["body"] == "hello"
    assert kwargs(queue, get)["body"] is None  # a GET task sends no body
    assert ["Content-Type", "text/plain"] not in list(kwargs(queue, get)["headers"])  # type: ignore[call-overload]
    assert kwargs(queue, bare)["headers"] == [] and kwargs(queue, bare)["body"] is None
    over = CurrentRequest("POST", (), None)  # the middleware kept no body: over the limit
    with serving(over, None), pytest.raises(PayloadTooLargeError, match="current request"):
        joblane.http.add("/site/x", method="POST", queue=queue)


def test_stored_only_when_the_atomic_block_commits(queue: Queue) -> None:
    with joblane.atomic():
        task = joblane.http.add("/site/x", queue=queue)
        with pytest.raises(JobNotStoredError):
            Job.fetch(task, backend=queue.backend)
    assert Job.fetch(task, backend=queue.backend).kwargs["url"] == f"{BASE}/x"
    with pytest.raises(RuntimeError), joblane.atomic():
        joblane.http.add("/site/never", queue=queue)
        raise RuntimeError("rolled back")
    assert len(queue) == 1


def test_stored_only_when_the_zope_transaction_commits(queue: Queue, tmp_path: Path) -> None:
    adapter = install(spool_dir=tmp_path / "spool")
    try:
        transaction.begin()
        task = joblane.http.add("/site/x", queue=queue)
        assert len(queue) == 0
        transaction.commit()
        assert Job.fetch(task, backend=queue.backend).status == "queued"
        transaction.begin()
        joblane.http.add("/site/aborted", queue=queue)
        transaction.abort()
        assert len(queue) == 1
    finally:
        adapter.uninstall()


def test_aadd_checks_and_stores_as_add_does(queue: Queue) -> None:
    async def main() -> str:
        with pytest.raises(InvalidHttpTaskError):
            await joblane.http.aadd("http://other.example/x", queue=queue)
        return await joblane.http.aadd("/site/x", method="POST", payload="b", queue=queue)

    task = asyncio.run(main())
    assert kwargs(queue, task)["body"] == "b"


def test_no_base_url_is_a_configuration_error(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    joblane.http.settings.reset()
    monkeypatch.delenv("JOBLANE_HTTP_BASE_URL", raising=False)
    with pytest.raises(ConfigurationError, match="JOBLANE_HTTP_BASE_URL"):
        joblane.http.add("/x", queue=Queue("normal", backend=backend))
    with pytest.raises(ConfigurationError, match="at least 16 characters"):
        joblane.http.configure(secrets="short")
    with pytest.raises(ConfigurationError, match="http:// or https://"):
        joblane.http.configure(base_url="ftp://x")
    monkeypatch.setenv("JOBLANE_HTTP_WINDOW", "soon")
    with pytest.raises(ConfigurationError, match="JOBLANE_HTTP_WINDOW='soon' is not a number"):
        joblane.http.current_settings()
