"""The API shows who enqueued a job (``enqueued_by``), and only for such a job:
seed 000's keys are unchanged (every response is checked against openapi.json)."""

from __future__ import annotations

from datetime import timedelta

from joblane import Queue, acting_as
from tests.jobs import sample
from tests.monitor.conftest import CheckedClient, Filled
from tests.monitor.test_shapes import SEED_JOB_KEYS

ALICE = {"user_id": "alice", "context": {"site": "/Plone", "tenant": 3}}


def test_a_job_enqueued_by_a_user_shows_them(client: CheckedClient, filled: Filled) -> None:
    with acting_as("alice", site="/Plone", tenant=3):
        Queue("normal", backend=filled.backend).enqueue(sample.noop, job_id="job-alice")
        Queue("important", backend=filled.backend).enqueue_in(
            timedelta(hours=2), sample.noop, job_id="job-alice-later"
        )
    job = client.get("/Plone/@rq-job/normal/job-alice").json()
    assert list(job) == [*SEED_JOB_KEYS, "enqueued_by"]
    assert job["enqueued_by"] == ALICE
    page = client.get("/Plone/@rq-queues/important/scheduled_job_registry").json()
    shown = {item["id"]: item.get("enqueued_by") for item in page["items"]}
    assert shown == {"job-scheduled": None, "job-alice-later": ALICE}
    plain = client.get("/Plone/@rq-job/normal/job-finished").json()
    assert list(plain) == SEED_JOB_KEYS
