"""Registry pages (?start=, ?limit=), and bounded work on a registry of 100,000 jobs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from joblane.backends.base import Backend, Capabilities, ReadOnlyBackend, WorkerInfo
from joblane.config import backend_from_url
from joblane.core.job import JobOptions, JobRecord, new_job
from joblane.core.states import Registry
from joblane.monitor import create_api
from joblane.monitor.api import MAX_LIMIT
from tests.monitor.conftest import PREFIX, TOKEN, CheckedClient, make_auth

PAGE = "/Plone/@rq-queues/normal/scheduled_job_registry"


def schedule(backend: Backend, count: int) -> list[str]:
    """*count* jobs in normal's scheduled registry, in one batch; their ids in registry order."""
    now = backend.now()
    options = JobOptions()
    records = [
        new_job(
            "normal", "tests.jobs.sample.noop", [i], {}, options, now=now, scheduled=now + 3600 + i
        )
        for i in range(count)
    ]
    backend.enqueue(records)
    return [r.id for r in records]


class CountingReader:
    """A reader that counts the job records it hands out."""

    def __init__(self, reader: ReadOnlyBackend) -> None:
        self.reader = reader
        self.url: str = reader.url
        self.capabilities: Capabilities = reader.capabilities
        self.records = 0
        self.pages: list[tuple[int, int]] = []

    def now(self) -> float:
        return self.reader.now()

    def get(self, job_id: str) -> JobRecord | None:
        record = self.reader.get(job_id)
        self.records += record is not None
        return record

    def get_many(self, job_ids: Sequence[str]) -> list[JobRecord | None]:
        records = self.reader.get_many(job_ids)
        self.records += sum(r is not None for r in records)
        return records

    def queue_names(self) -> list[str]:
        return self.reader.queue_names()

    def count(self, queue: str) -> int:
        return self.reader.count(queue)

    def registry_count(self, queue: str, registry: Registry) -> int:
        return self.reader.registry_count(queue, registry)

    def list_queued(self, queue: str, start: int = 0, limit: int = 100) -> list[JobRecord]:
        records = self.reader.list_queued(queue, start, limit)
        self.records += len(records)
        return records

    def list_registry(
        self, queue: str, registry: Registry, start: int = 0, limit: int = 100
    ) -> list[JobRecord]:
        self.pages.append((start, limit))
        records = self.reader.list_registry(queue, registry, start, limit)
        self.records += len(records)
        return records

    def workers(self) -> list[WorkerInfo]:
        return self.reader.workers()

    def wait_for_change(self, timeout: float) -> bool:
        return self.reader.wait_for_change(timeout)

    def close(self) -> None:
        self.reader.close()


def counting_client(backend: Backend) -> tuple[CountingReader, CheckedClient]:
    reader = CountingReader(backend)
    app = create_api(reader, prefix=PREFIX, auth=make_auth())
    return reader, CheckedClient(app, headers={"Authorization": f"Bearer {TOKEN}"})


@pytest.fixture
def ids(empty_backend: Backend) -> list[str]:
    return schedule(empty_backend, 250)


def test_the_default_page_keeps_the_seeds_shape(empty_backend: Backend, ids: list[str]) -> None:
    _, client = counting_client(empty_backend)
    response = client.get(PAGE)
    body = response.json()
    assert list(body) == ["@id", "name", "count", "items"]
    assert body["count"] == 250  # the whole registry
    assert [job["id"] for job in body["items"]] == ids[:100]
    assert response.headers["link"] == '<?start=100&limit=100>; rel="next"'


def test_pages(empty_backend: Backend, ids: list[str]) -> None:
    _, client = counting_client(empty_backend)
    for query, expected, link in (
        ("?start=200", ids[200:], None),
        ("?start=10&limit=5", ids[10:15], '<?start=15&limit=5>; rel="next"'),
        ("?limit=250", ids, None),
        ("?start=249&limit=1", ids[249:], None),
        ("?start=250", [], None),
        ("?start=1000000000", [], None),
        ("?limit=0", [], None),
    ):
        response = client.get(PAGE + query)
        assert response.status_code == 200, query
        assert [job["id"] for job in response.json()["items"]] == expected, query
        assert response.json()["count"] == 250
        assert response.headers.get("link") == link, query


def test_following_next_links_walks_the_whole_registry_once(
    empty_backend: Backend, ids: list[str]
) -> None:
    _, client = counting_client(empty_backend)
    seen: list[str] = []
    url = PAGE + "?limit=64"
    for _ in range(10):
        response = client.get(url)
        seen += [job["id"] for job in response.json()["items"]]
        link = response.headers.get("link")
        if link is None:
            break
        url = PAGE + link[1 : link.index(">")]
    assert seen == ids


@pytest.fixture(scope="module")
def big_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Backend, list[str]]]:
    """A SQLite file whose normal queue has 100,000 scheduled jobs (one batch)."""
    path: Path = tmp_path_factory.mktemp("big") / "big.db"
    backend = backend_from_url(f"sqlite:///{path}?durability=normal")
    ids = schedule(backend, 100_000)
    yield backend, ids
    backend.close()


@pytest.mark.parametrize(
    ("query", "start", "limit"),
    [("", 0, 100), ("?start=99990", 99_990, 100), ("?start=50000&limit=1000", 50_000, 1000)],
)
def test_a_page_of_a_100k_registry_reads_only_that_page(
    big_sqlite: tuple[Backend, list[str]], query: str, start: int, limit: int
) -> None:
    backend, ids = big_sqlite
    reader, client = counting_client(backend)
    response = client.get(PAGE + query)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 100_000
    assert [job["id"] for job in body["items"]] == ids[start : start + limit]
    assert reader.pages == [(start, limit)]
    assert reader.records == len(body["items"]) <= MAX_LIMIT


def test_queue_summaries_of_a_100k_registry_read_no_job(
    big_sqlite: tuple[Backend, list[str]],
) -> None:
    backend, _ = big_sqlite
    reader, client = counting_client(backend)
    assert client.get("/Plone/@rq-queues/normal").json()["registries"][5]["count"] == 100_000
    assert client.get("/Plone/@rq-queues").status_code == 200
    assert (reader.records, reader.pages) == (0, [])
