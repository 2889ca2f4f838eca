"""Fixtures for the monitoring API: backends filled through the public API, and
a test client that checks every response against the API's OpenAPI document.

The ``filled`` backend (memory, SQLite or PostgreSQL, on a manual clock) holds, in queue
``normal``, one job in each registry and one queued job; in ``important`` one
scheduled job; in ``custom`` (a queue nobody configured) one queued job.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from starlette.testclient import TestClient
from starlette.types import ASGIApp

import tests.jobs.sample  # noqa: F401  # registers the @job functions
from joblane import Queue
from joblane.backends.base import Backend
from joblane.backends.memory import MemoryBackend
from joblane.backends.postgres import from_url as postgres_from_url
from joblane.backends.sqlite import from_url
from joblane.core.outcome import decide
from joblane.monitor import Auth, create_api
from joblane.testing import ManualClock
from joblane.worker.run import JobContext, run_job
from tests.jobs import sample
from tests.monitor.openapi_check import check_response
from tests.servers import postgres_url_for

TOKEN = "test-token-0123456789"
USER = ("admin", "password")
PREFIX = "/Plone"
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z, ManualClock's start


def make_auth() -> Auth:
    return Auth(tokens=[TOKEN], users=[USER])


class CheckedClient(TestClient):
    """A TestClient whose every response is checked against openapi.json."""

    def __init__(self, app: ASGIApp, *, prefix: str = PREFIX, **options: Any) -> None:
        super().__init__(app, **options)
        self.prefix = prefix

    def request(self, *args: Any, **kwargs: Any) -> httpx2.Response:
        response = super().request(*args, **kwargs)
        check_response(response, self.prefix)
        return response


def run_next(backend: Backend, queue: str, now: float) -> None:
    """One worker step, as a worker does it: claim, run, settle."""
    _, claimed = backend.claim([queue], worker="test-worker", limit=1, lease_seconds=60, now=now)
    (job,) = claimed
    assert job.lease_token is not None
    outcome = run_job(
        job.func_name, job.payload, None, JobContext(job.id, job.queue, job.func_name, job.attempts)
    )
    backend.settle([decide(job, job.lease_token, outcome, now)], now)


@dataclass
class Filled:
    backend: Backend
    clock: ManualClock


def fill(backend: Backend, clock: ManualClock) -> Filled:
    normal = Queue("normal", backend=backend)
    important = Queue("important", backend=backend)
    normal.enqueue(sample.add, 1, 2, job_id="job-finished", result_ttl=86400)
    normal.enqueue(sample.fail, "boom", job_id="job-failed")
    clock.advance(5)
    run_next(backend, "normal", clock.now())
    run_next(backend, "normal", clock.now())
    clock.advance(5)
    normal.enqueue(sample.noop, job_id="job-started")
    backend.claim(["normal"], worker="w1", limit=1, lease_seconds=3600, now=clock.now())
    normal.enqueue(sample.noop, job_id="job-deferred", depends_on="job-started")
    normal.enqueue(sample.noop, job_id="job-canceled").cancel()
    important.enqueue_in(timedelta(hours=1), sample.echo, "later", job_id="job-scheduled")
    normal.enqueue(sample.echo, "https://example.com/page", retries=2, job_id="job-queued", ttl=600)
    Queue("custom", backend=backend).enqueue(sample.noop, job_id="job-custom")
    return Filled(backend, clock)


def open_backend(kind: str, tmp_path: Path, clock: ManualClock) -> Backend:
    if kind == "memory":
        return MemoryBackend(clock=clock)
    if kind == "postgres":
        return postgres_from_url(postgres_url_for(tmp_path), clock=clock)
    return from_url(f"sqlite:///{tmp_path / 'monitor.db'}", clock=clock)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def backend_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def empty_backend(backend_kind: str, tmp_path: Path, clock: ManualClock) -> Iterator[Backend]:
    backend = open_backend(backend_kind, tmp_path, clock)
    yield backend
    backend.close()


@pytest.fixture
def filled(empty_backend: Backend, clock: ManualClock) -> Filled:
    return fill(empty_backend, clock)


@pytest.fixture
def client(filled: Filled) -> Iterator[CheckedClient]:
    """An authenticated client of the API at /Plone over the filled backend."""
    app = create_api(filled.backend, prefix=PREFIX, auth=make_auth())
    with CheckedClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield client


@pytest.fixture
def anonymous(filled: Filled) -> Iterator[CheckedClient]:
    """A client without credentials, answered 500s instead of raising them."""
    app = create_api(filled.backend, prefix=PREFIX, auth=make_auth())
    with CheckedClient(app, raise_server_exceptions=False) as client:
        yield client
