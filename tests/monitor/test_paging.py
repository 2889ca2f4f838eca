"""Registry pages (?start=, ?limit=, a byte budget), pages of queues, and bounded work on a
registry of 100,000 jobs and on 20,000 queues."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from joblane import Queue
from joblane.backends.base import Backend, Capabilities, ReadOnlyBackend, ScheduleInfo, WorkerInfo
from joblane.config import backend_from_url
from joblane.core.job import JobOptions, JobRecord, new_job
from joblane.core.states import Registry
from joblane.errors import ConfigurationError
from joblane.monitor import create_api
from joblane.monitor.api import DEFAULT_PAGE_BYTES, MAX_LIMIT
from tests.jobs import sample
from tests.monitor.conftest import PREFIX, TOKEN, CheckedClient, make_auth, run_next

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

    def schedules(self) -> list[ScheduleInfo]:
        return self.reader.schedules()

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


# -- the byte budget of a registry page -------------------------------------------

FINISHED = "/Plone/@rq-queues/normal/finished_job_registry"


def finish(backend: Backend, sizes: list[int]) -> list[str]:
    """One finished job per size, in that order, whose result encodes to that many bytes."""
    ids = []
    for index, size in enumerate(sizes):
        job = Queue("normal", backend=backend).enqueue(
            sample.sized_result, size, job_id=f"big-{index}", result_ttl=-1
        )
        run_next(backend, "normal", backend.now())
        ids.append(job.id)
    return ids


def budget_client(backend: Backend, page_bytes: int) -> CheckedClient:
    app = create_api(backend, prefix=PREFIX, auth=make_auth(), page_bytes=page_bytes)
    return CheckedClient(app, headers={"Authorization": f"Bearer {TOKEN}"})


def test_a_page_stops_before_its_byte_budget(empty_backend: Backend) -> None:
    ids = finish(empty_backend, [40_000] * 10)
    client = budget_client(empty_backend, 100_000)
    response = client.get(FINISHED + "?limit=5")
    assert [job["id"] for job in response.json()["items"]] == ids[:2]  # a third would pass it
    assert len(response.content) <= 100_000
    assert response.json()["count"] == 10
    assert response.headers["link"] == '<?start=2&limit=5>; rel="next"'
    response = client.get(FINISHED + "?start=8&limit=5")
    assert [job["id"] for job in response.json()["items"]] == ids[8:]
    assert "link" not in response.headers


def test_a_job_over_the_budget_is_a_page_of_its_own(empty_backend: Backend) -> None:
    ids = finish(empty_backend, [100, 300_000, 100])
    client = budget_client(empty_backend, 100_000)
    pages = []
    url = FINISHED
    for _ in range(5):
        response = client.get(url)
        pages.append([job["id"] for job in response.json()["items"]])
        link = response.headers.get("link")
        if link is None:
            break
        url = FINISHED + link[1 : link.index(">")]
    assert pages == [ids[:1], ids[1:2], ids[2:]]


def test_the_default_budget_is_4_mib(empty_backend: Backend) -> None:
    assert DEFAULT_PAGE_BYTES == 4 * 1024 * 1024
    ids = finish(empty_backend, [1024 * 1024] * 5)  # each at the default result limit
    response = budget_client(empty_backend, DEFAULT_PAGE_BYTES).get(FINISHED)
    assert [job["id"] for job in response.json()["items"]] == ids[:3]
    assert response.headers["link"] == '<?start=3&limit=100>; rel="next"'


@pytest.mark.parametrize("page_bytes", [0, -1, 1.5, True])
def test_a_bad_budget_is_refused(empty_backend: Backend, page_bytes: Any) -> None:
    with pytest.raises(ConfigurationError, match="page_bytes"):
        create_api(empty_backend, auth=make_auth(), page_bytes=page_bytes)


# -- pages of queues ----------------------------------------------------------------


class QueueCountingReader(CountingReader):
    def __init__(self, reader: ReadOnlyBackend) -> None:
        super().__init__(reader)
        self.counted: set[str] = set()

    def registry_count(self, queue: str, registry: Registry) -> int:
        self.counted.add(queue)
        return super().registry_count(queue, registry)


@pytest.fixture
def many_queues(empty_backend: Backend) -> list[str]:
    """20,000 queues of one job each (one batch), and the configured three: sorted."""
    now = empty_backend.now()
    names = [f"q{i:05d}" for i in range(20_000)]
    options = JobOptions()
    empty_backend.enqueue([new_job(n, "tests.jobs.sample.noop", [], {}, options, now=now)
                           for n in names])  # fmt: skip
    return sorted([*names, "important", "low", "normal"])


def test_queues_come_in_pages_of_100_by_default(
    empty_backend: Backend, many_queues: list[str]
) -> None:
    reader = QueueCountingReader(empty_backend)
    app = create_api(reader, prefix=PREFIX, auth=make_auth())
    client = CheckedClient(app, headers={"Authorization": f"Bearer {TOKEN}"})
    response = client.get("/Plone/@rq-queues")
    body = response.json()
    assert list(body) == ["@id", "items"]  # the seed's shape
    assert [q["name"] for q in body["items"]] == many_queues[:100]
    assert response.headers["link"] == '<?start=100&limit=100>; rel="next"'
    assert reader.counted == set(many_queues[:100])  # counts read for the page only
    response = client.get("/Plone/@rq-queues?start=19950&limit=1000")
    assert [q["name"] for q in response.json()["items"]] == many_queues[19_950:]
    assert "link" not in response.headers


def test_following_the_queue_links_lists_every_queue_once(empty_backend: Backend) -> None:
    for i in range(25):
        Queue(f"q{i:02d}", backend=empty_backend).enqueue(sample.noop)
    _, client = counting_client(empty_backend)
    seen: list[str] = []
    url = "/Plone/@rq-queues?limit=7"
    for _ in range(10):
        response = client.get(url)
        seen += [q["name"] for q in response.json()["items"]]
        link = response.headers.get("link")
        if link is None:
            break
        url = "/Plone/@rq-queues" + link[1 : link.index(">")]
    assert seen == sorted([f"q{i:02d}" for i in range(25)] + ["important", "low", "normal"])
    assert client.get("/Plone/@rq-queues?limit=0").json()["items"] == []
    assert client.get("/Plone/@rq-queues?start=28").json()["items"] == []
