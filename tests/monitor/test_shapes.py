"""Seed 000's JSON shapes, field for field, over the memory and SQLite backends."""

from __future__ import annotations

from typing import Any

from joblane.monitor.schemas import JOB_FIELDS
from tests.monitor.conftest import CheckedClient, Filled

SEED_JOB_KEYS = [
    "id", "description", "args", "created", "enqueued", "ended", "scheduled", "func_name",
    "retries_left", "return_value", "ttl", "result_ttl", "last_job_result",
]  # fmt: skip
SEED_REGISTRIES = [
    "started_job_registry", "deferred_job_registry", "canceled_job_registry",
    "failed_job_registry", "finished_job_registry", "scheduled_job_registry",
]  # fmt: skip

FINISHED_JOB = {
    "id": "job-finished",
    "description": "tests.jobs.sample.add(1, 2)",
    "args": [1, 2],
    "created": "2026-01-01T00:00:00",
    "enqueued": "2026-01-01T00:00:00",
    "ended": "2026-01-01T00:00:05",
    "scheduled": None,
    "func_name": "tests.jobs.sample.add",
    "retries_left": 0,
    "return_value": 3,
    "ttl": None,
    "result_ttl": 86400,
    "last_job_result": None,
}


def queue_item(name: str, count: int, **registries: int) -> dict[str, Any]:
    return {
        "@id": f"@rq-queues/{name}",
        "name": name,
        "count": count,
        "registries": [
            {
                "@id": f"@rq-queues/{name}/{registry}",
                "name": registry,
                "count": registries.get(registry.removesuffix("_job_registry"), 0),
            }
            for registry in SEED_REGISTRIES
        ],
    }


def test_job_fields_are_the_seeds_in_the_seeds_order() -> None:
    assert list(JOB_FIELDS) == SEED_JOB_KEYS


def test_queues_lists_every_queue_sorted_by_name(client: CheckedClient) -> None:
    response = client.get("/Plone/@rq-queues", headers={"Accept": "application/json"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "@id": "@rq-queues",
        "items": [
            queue_item("custom", 1),
            queue_item("important", 0, scheduled=1),
            queue_item("low", 0),
            queue_item("normal", 1, started=1, deferred=1, canceled=1, failed=1, finished=1),
        ],
    }
    # The registries of every queue come in the seed's order, keys in the seed's order.
    for item in response.json()["items"]:
        assert list(item) == ["@id", "name", "count", "registries"]
        assert [r["name"] for r in item["registries"]] == SEED_REGISTRIES
        assert all(list(r) == ["@id", "name", "count"] for r in item["registries"])


def test_an_empty_backend_lists_the_configured_queues_with_zero_counts(
    client: CheckedClient, filled: Filled
) -> None:
    for job_id in ("job-finished", "job-failed", "job-started", "job-deferred", "job-canceled",
                   "job-scheduled", "job-queued", "job-custom"):  # fmt: skip
        filled.backend.delete(job_id)
    body = client.get("/Plone/@rq-queues").json()
    assert body == {
        "@id": "@rq-queues",
        "items": [queue_item("important", 0), queue_item("low", 0), queue_item("normal", 0)],
    }


def test_one_queue_has_the_shape_of_one_item(client: CheckedClient) -> None:
    response = client.get("/Plone/@rq-queues/normal")
    assert response.status_code == 200
    assert response.json() == queue_item(
        "normal", 1, started=1, deferred=1, canceled=1, failed=1, finished=1
    )


def test_a_configured_queue_the_backend_never_saw_has_zero_counts(client: CheckedClient) -> None:
    response = client.get("/Plone/@rq-queues/low")
    assert response.status_code == 200
    assert response.json() == queue_item("low", 0)
    page = client.get("/Plone/@rq-queues/low/failed_job_registry")
    assert page.status_code == 200
    assert page.json() == {
        "@id": "@rq-queues/low/failed_job_registry",
        "name": "failed_job_registry",
        "count": 0,
        "items": [],
    }


def test_a_queue_nobody_configured_is_served_while_it_holds_jobs(client: CheckedClient) -> None:
    assert client.get("/Plone/@rq-queues/custom").json() == queue_item("custom", 1)


def test_registry_expands_to_its_jobs(client: CheckedClient) -> None:
    response = client.get("/Plone/@rq-queues/normal/finished_job_registry")
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["@id", "name", "count", "items"]
    assert body == {
        "@id": "@rq-queues/normal/finished_job_registry",
        "name": "finished_job_registry",
        "count": 1,
        "items": [FINISHED_JOB],
    }
    assert list(body["items"][0]) == SEED_JOB_KEYS
    assert "Link" not in response.headers  # the whole registry fits the page


def test_failed_registry_carries_the_traceback(client: CheckedClient) -> None:
    body = client.get("/Plone/@rq-queues/normal/failed_job_registry").json()
    assert body["count"] == 1
    (job,) = body["items"]
    traceback = job["last_job_result"]
    assert traceback.startswith("Traceback (most recent call last):")
    assert traceback.rstrip().endswith("RuntimeError: boom")
    assert job == {
        **FINISHED_JOB,
        "id": "job-failed",
        "description": "tests.jobs.sample.fail('boom')",
        "args": ["boom"],
        "func_name": "tests.jobs.sample.fail",
        "return_value": None,
        "result_ttl": 500,
        "last_job_result": traceback,
    }


def test_every_registry_holds_its_job(client: CheckedClient) -> None:
    expected = {
        "normal": {"started": "job-started", "deferred": "job-deferred",
                   "canceled": "job-canceled", "failed": "job-failed",
                   "finished": "job-finished"},
        "important": {"scheduled": "job-scheduled"},
    }  # fmt: skip
    for queue, registries in expected.items():
        for registry in SEED_REGISTRIES:
            short = registry.removesuffix("_job_registry")
            body = client.get(f"/Plone/@rq-queues/{queue}/{registry}").json()
            ids = [job["id"] for job in body["items"]]
            assert ids == ([registries[short]] if short in registries else []), (queue, registry)
            assert body["count"] == len(ids)


def test_job_by_id(client: CheckedClient) -> None:
    response = client.get(
        "/Plone/@rq-job/normal/job-finished", headers={"Accept": "application/json"}
    )
    assert response.status_code == 200
    assert list(response.json()) == SEED_JOB_KEYS
    assert response.json() == FINISHED_JOB


def test_job_timestamps_and_nulls_where_unset(client: CheckedClient) -> None:
    queued = client.get("/Plone/@rq-job/normal/job-queued").json()
    assert queued == {
        "id": "job-queued",
        "description": "tests.jobs.sample.echo('https://example.com/page', retries=2)",
        "args": ["https://example.com/page"],
        "created": "2026-01-01T00:00:10",
        "enqueued": "2026-01-01T00:00:10",
        "ended": None,
        "scheduled": None,
        "func_name": "tests.jobs.sample.echo",
        "retries_left": 0,
        "return_value": None,
        "ttl": 600,
        "result_ttl": 500,
        "last_job_result": None,
    }
    scheduled = client.get("/Plone/@rq-job/important/job-scheduled").json()
    assert (scheduled["enqueued"], scheduled["scheduled"]) == (None, "2026-01-01T01:00:10")


def test_value_types(client: CheckedClient) -> None:
    for queue, job_id in (("normal", "job-finished"), ("normal", "job-failed"),
                          ("normal", "job-started"), ("important", "job-scheduled")):  # fmt: skip
        job = client.get(f"/Plone/@rq-job/{queue}/{job_id}").json()
        assert isinstance(job["id"], str) and isinstance(job["description"], str)
        assert isinstance(job["args"], list)
        for key in ("created", "enqueued", "ended", "scheduled"):
            assert job[key] is None or (isinstance(job[key], str) and len(job[key]) == 19)
        assert isinstance(job["retries_left"], int) and isinstance(job["result_ttl"], int)
        assert job["ttl"] is None or isinstance(job["ttl"], int)
        assert job["last_job_result"] is None or isinstance(job["last_job_result"], str)


def test_a_missing_job_is_an_empty_object(client: CheckedClient) -> None:
    response = client.get("/Plone/@rq-job/normal/no-such-job")
    assert (response.status_code, response.json()) == (404, {})


def test_a_job_of_another_queue_is_missing_from_this_one(client: CheckedClient) -> None:
    response = client.get("/Plone/@rq-job/low/job-finished")
    assert (response.status_code, response.json()) == (404, {})
    assert client.get("/Plone/@rq-job/important/job-queued").json() == {}


def test_head_answers_the_get_headers_without_a_body(client: CheckedClient) -> None:
    response = client.head("/Plone/@rq-queues")
    assert response.status_code == 200
    assert response.content == b""
    assert int(response.headers["content-length"]) == len(client.get("/Plone/@rq-queues").content)


def test_responses_are_not_cached(client: CheckedClient) -> None:
    assert client.get("/Plone/@rq-queues").headers["cache-control"] == "no-store"
