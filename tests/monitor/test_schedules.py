"""``GET @rq-schedules``: the cron schedules that live workers run, with their next run."""

from __future__ import annotations

from joblane import Worker, cron
from joblane.testing import ManualClock
from tests.jobs import sample
from tests.monitor.conftest import CheckedClient, Filled

PATH = "/Plone/@rq-schedules"


def test_no_schedule_is_an_empty_list(client: CheckedClient) -> None:
    response = client.get(PATH)
    assert response.status_code == 200
    assert response.json() == {"@id": "@rq-schedules", "items": []}


def test_a_worker_lists_its_schedules_until_it_is_gone(
    client: CheckedClient, filled: Filled, clock: ManualClock
) -> None:
    nightly = cron(sample.add, hour=3, minute=0, args=(1, 2), timezone="Europe/Paris",
                   name="nightly-add")  # fmt: skip
    every_minute = cron(sample.add, "* * * * *", args=(0, 0), missed="run_once", queue="low")
    worker = Worker(filled.backend, ["normal"], executor="thread", name="w-cron",
                    schedules=[every_minute, nightly], monotonic=ManualClock(0.0).now)  # fmt: skip
    clock.set(1_767_225_600.0 + 3600)  # 2026-01-01T01:00:00
    worker.side_tasks.run("cron", clock.now())
    clock.advance(60)
    worker.side_tasks.run("cron", clock.now())
    body = client.get(PATH).json()
    assert body == {
        "@id": "@rq-schedules",
        "items": [
            {
                "name": "nightly-add", "func_name": "tests.jobs.sample.add",
                "spec": "0 3 * * *", "timezone": "Europe/Paris", "queue": "normal",
                "missed": "skip", "next_run": "2026-01-01T02:00:00",
                "last_tick": "2026-01-01T01:00:00", "worker": "w-cron",
                "heartbeat": "2026-01-01T01:01:00",
            },
            {
                "name": "tests.jobs.sample.add", "func_name": "tests.jobs.sample.add",
                "spec": "* * * * *", "timezone": "UTC", "queue": "low",
                "missed": "run_once", "next_run": "2026-01-01T01:02:00",
                "last_tick": "2026-01-01T01:01:00", "worker": "w-cron",
                "heartbeat": "2026-01-01T01:01:00",
            },
        ],
    }  # fmt: skip
    clock.advance(3600)  # no worker ran them for an hour
    assert client.get(PATH).json()["items"] == []
