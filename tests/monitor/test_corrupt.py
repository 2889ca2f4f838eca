"""A job that does not decode is shown as undecodable: its page and the job
itself answer 200, never 500 or 503 while the backend is up."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from joblane import Queue
from joblane.backends.base import Backend
from joblane.config import backend_from_url
from joblane.monitor import create_api
from tests.corruption import Corrupter
from tests.jobs import sample
from tests.monitor.conftest import PREFIX, TOKEN, CheckedClient, make_auth
from tests.servers import redis_url_for


@pytest.fixture(params=["sqlite", "redis"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'jobs.db'}"
    return redis_url_for(tmp_path)


@pytest.fixture
def backend(url: str) -> Iterator[Backend]:
    backend = backend_from_url(url)
    yield backend
    backend.close()


@pytest.fixture
def corrupter(url: str) -> Iterator[Corrupter]:
    corrupter = Corrupter(url)
    yield corrupter
    corrupter.close()


@pytest.fixture
def client(backend: Backend) -> Iterator[CheckedClient]:
    app = create_api(backend, prefix=PREFIX, auth=make_auth())
    with CheckedClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield client


def test_a_job_with_a_bad_meta_is_shown_undecodable(
    backend: Backend, corrupter: Corrupter, client: CheckedClient
) -> None:
    queue = Queue("normal", backend=backend)
    good = queue.enqueue(sample.add, 1, 2, job_id="good")
    bad = queue.enqueue(sample.add, 3, 4, job_id="bad")
    corrupter.break_field(bad.id, "meta")
    backend.cancel(good.id, backend.now())
    backend.cancel(bad.id, backend.now())
    page = client.get(f"{PREFIX}/@rq-queues/normal/canceled_job_registry")
    assert page.status_code == 200
    items = {item["id"]: item for item in page.json()["items"]}
    assert "undecodable" not in items["good"]
    shown = items["bad"]
    assert shown["undecodable"].startswith("field 'meta' of job 'bad': b'{{' is not valid JSON")
    assert (shown["description"], shown["args"]) == ("tests.jobs.sample.add(3, 4)", [3, 4])
    one = client.get(f"{PREFIX}/@rq-job/normal/bad")
    assert (one.status_code, one.json()) == (200, shown)


def test_a_job_whose_arguments_do_not_decode_is_shown_undecodable(
    backend: Backend, corrupter: Corrupter, client: CheckedClient
) -> None:
    job = Queue("normal", backend=backend).enqueue(sample.add, 1, 2, job_id="bad-args")
    corrupter.set(job.id, "payload", b"not json")
    one = client.get(f"{PREFIX}/@rq-job/normal/bad-args")
    assert one.status_code == 200
    body = one.json()
    assert (body["args"], body["description"]) == ([], "tests.jobs.sample.add(?)")
    assert body["undecodable"].startswith("field 'payload' of job 'bad-args': ")


def test_a_job_whose_status_is_unknown_is_shown_undecodable(
    backend: Backend, corrupter: Corrupter, client: CheckedClient
) -> None:
    job = Queue("normal", backend=backend).enqueue(sample.add, 1, 2, job_id="odd")
    corrupter.set(job.id, "status", "exploded")
    one = client.get(f"{PREFIX}/@rq-job/normal/odd")
    assert one.status_code == 200
    assert one.json()["undecodable"].endswith(
        "'exploded' is not a status this version of joblane knows"
    )


def test_a_redis_job_key_of_another_type_is_shown_undecodable(tmp_path: Path) -> None:
    url = redis_url_for(tmp_path)
    backend, corrupter = backend_from_url(url), Corrupter(url)
    app = create_api(backend, prefix=PREFIX, auth=make_auth())
    try:
        with CheckedClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            queue = Queue("normal", backend=backend)
            job = queue.enqueue_in(timedelta(hours=1), sample.add, 1, 2, job_id="odd")
            assert corrupter.redis is not None
            corrupter.redis.delete(corrupter.job_key(job.id))
            corrupter.redis.set(corrupter.job_key(job.id), "a string")
            page = client.get(f"{PREFIX}/@rq-queues/normal/scheduled_job_registry")
            assert page.status_code == 200
            [item] = page.json()["items"]
            assert item["undecodable"] == "job 'odd': its key holds another type than a hash"
            assert client.get(f"{PREFIX}/@rq-job/normal/odd").status_code == 404  # no queue
    finally:
        corrupter.close()
        backend.close()
