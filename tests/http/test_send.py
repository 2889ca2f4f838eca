"""The send job run in this process (run_job, as a worker's slot runs it): it
needs no identity hook, refuses what it must not send, and says why."""

from __future__ import annotations

import pytest

import joblane.http
from joblane.core.identity import Identity
from joblane.core.outcome import OutcomeKind
from joblane.core.serialization import encode_call
from joblane.errors import HttpTaskRefusedError, InvalidJobError
from joblane.tasks import forwards_identity, job
from joblane.worker.run import JobContext, run_job
from tests.http.conftest import SECRET
from tests.servers import free_port

SEND = "joblane.http.sender.send"


def run_send(url: str, user: str | None = "alice") -> tuple[OutcomeKind, bool, str]:
    payload = encode_call([], {"method": "GET", "url": url, "headers": []})
    by = None if user is None else Identity(user)
    context = JobContext("task-1", "normal", SEND, 1, enqueued_by=by)
    outcome = run_job(SEND, payload, None, context, restore=None)
    return outcome.kind, outcome.retryable, outcome.error or ""


def test_send_forwards_its_identity_so_it_needs_no_restore_hook() -> None:
    assert forwards_identity(SEND)
    joblane.http.configure(secrets=[SECRET])
    kind, retryable, error = run_send(f"http://127.0.0.1:{free_port()}/x")
    # Nothing listens: a connection error, retried; never an IdentityError.
    assert (kind, retryable) == (OutcomeKind.FAILED, True)
    assert "HttpTaskRetryableError: no response: GET" in error and "IdentityError" not in error


def test_a_worker_with_a_base_url_sends_nowhere_else() -> None:
    joblane.http.configure(secrets=[SECRET], base_url="http://app.example:8080/site")
    kind, retryable, error = run_send("http://elsewhere.example/site/x")
    assert (kind, retryable) == (OutcomeKind.FAILED, False)
    assert "outside this worker's JOBLANE_HTTP_BASE_URL" in error


def test_a_worker_without_a_secret_fails_the_task_saying_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("JOBLANE_HTTP_SECRET", raising=False)
    kind, retryable, error = run_send("http://127.0.0.1:1/x")
    assert (kind, retryable) == (OutcomeKind.FAILED, False)
    assert "no secret to sign HTTP tasks with" in error


def test_send_outside_a_job_refuses() -> None:
    with pytest.raises(HttpTaskRefusedError, match="runs as a job only"):
        joblane.http.send("GET", "http://127.0.0.1:1/x", [])


def test_forwards_identity_must_be_a_bool() -> None:
    with pytest.raises(InvalidJobError, match="forwards_identity"):
        job(forwards_identity="yes")
