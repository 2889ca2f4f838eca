"""Tests of code that enqueues: the set-ups of docs/how-to/testing.md.

Run them with pytest, or as a script::

    .venv/bin/python -m pytest docs/examples/test_myapp.py
    .venv/bin/python docs/examples/test_myapp.py
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from myapp.publishing import publish
from myapp.tasks import import_feed, send_digest, sync_content

from joblane import Queue, WorkerThread
from joblane.backends.immediate import ImmediateBackend
from joblane.backends.memory import MemoryBackend
from joblane.testing import ManualClock

URL = "https://example.com/news/"


# -- the immediate backend: every job runs inside enqueue ----------------------


def test_publish_runs_its_jobs() -> None:
    queue = Queue(backend=ImmediateBackend())
    purge, notify = publish(URL, queue)
    assert purge.status == "finished"
    assert purge.return_value == {"purged": URL}
    assert notify.return_value == "sent to 1 recipient(s)"


def test_a_failing_job_is_recorded_not_raised() -> None:
    queue = Queue(backend=ImmediateBackend())
    job = queue.enqueue(import_feed, "/nonexistent/feed.json")
    assert job.is_failed
    assert "FileNotFoundError" in (job.last_job_result or "")


# -- the memory backend: look at what was enqueued, or run a worker thread -----


def test_publish_enqueues_a_purge_then_a_deferred_mail() -> None:
    queue = Queue(backend=MemoryBackend())
    purge, notify = publish(URL, queue)
    assert [job.id for job in queue.get_jobs()] == [purge.id]
    assert purge.func_name == "myapp.tasks.purge_cdn"
    assert purge.args == [URL]
    assert notify.status == "deferred"


def test_publish_with_a_worker() -> None:
    backend = MemoryBackend()
    queue = Queue(backend=backend)
    with WorkerThread(backend, ["normal"], concurrency=2):
        purge, notify = publish(URL, queue)
        notify.wait(timeout=5)
    assert notify.return_value == "sent to 1 recipient(s)"
    assert purge.refresh().return_value == {"purged": URL}


# -- ManualClock: time moves when the test says so -----------------------------


def test_a_retry_waits_its_interval() -> None:
    clock = ManualClock()
    backend = ImmediateBackend(clock=clock)
    queue = Queue(backend=backend)
    job = queue.enqueue(sync_content, "https://partner.example.com/feed")
    assert job.status == "scheduled"  # attempt 1 failed; retry 1 waits 1 s
    assert job.scheduled_at == datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)
    clock.advance(1)
    backend.run_pending()
    assert job.refresh().status == "finished"
    assert job.attempts == 2


def test_a_scheduled_job_runs_when_due() -> None:
    clock = ManualClock()
    backend = MemoryBackend(clock=clock)
    queue = Queue(backend=backend)
    with WorkerThread(backend, ["normal"]):
        job = queue.enqueue_in(timedelta(hours=1), send_digest, ["editors@example.com"])
        assert job.status == "scheduled"
        clock.advance(3600)
        assert job.wait(timeout=5).return_value == "sent to 1 recipient(s)"


if __name__ == "__main__":
    for name, test in list(globals().items()):
        if name.startswith("test_"):
            test()
            print("ok", name)
