"""Waits on a frozen Redis (SIGSTOP: connections are accepted, nothing is
answered): every call returns or raises within ``retry_for``, and an enqueue
whose reply was lost says so and can be retried without storing a second job."""

from __future__ import annotations

import pickle
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from joblane import BackendError, EnqueueOutcomeUnknownError, Job, JobStatus, Queue
from joblane.backends.redis import from_url as redis_from_url
from joblane.backends.redis.connection import DEFAULT_RETRY_FOR
from tests.jobs import sample
from tests.servers import RedisServer
from tests.worker.conftest import WorkerProcesses, wait_until

from .accounting import check_one_place_each

pytestmark = pytest.mark.slow

SLACK = 3.0
"""Seconds allowed past the bound: a loaded machine, not a second timeout."""


@contextmanager
def frozen(server: RedisServer) -> Iterator[None]:
    """Redis stopped by SIGSTOP, and let go again on the way out (if still there)."""
    assert server.process is not None
    server.process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        if server.process is not None:
            server.process.send_signal(signal.SIGCONT)


def time_all(calls: dict[str, Callable[[], object]], limit: float) -> dict[str, tuple[float, str]]:
    """Run *calls* at once; for each, the seconds it took and what it raised
    (``"returned"`` if nothing). Gives up on a call after *limit* seconds."""
    results: dict[str, tuple[float, str]] = {}

    def run(name: str, call: Callable[[], object]) -> None:
        started = time.monotonic()
        try:
            call()
            outcome = "returned"
        except BackendError as exc:
            outcome = type(exc).__name__
        results[name] = (time.monotonic() - started, outcome)

    threads = [
        threading.Thread(target=run, args=item, daemon=True, name=item[0]) for item in calls.items()
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + limit
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0))
    assert set(results) == set(calls), f"still waiting after {limit} s: {set(calls) - set(results)}"
    return results


def test_enqueue_fetch_claim_and_connect_are_bounded_by_retry_for(
    own_server: RedisServer,
) -> None:
    url = own_server.url()  # retry_for left at its default, the documented bound
    backend = redis_from_url(url)
    queue = Queue("normal", backend=backend)
    job = queue.enqueue(sample.add, 1, 2)  # connected, scripts loaded
    now = backend.now()
    calls: dict[str, Callable[[], object]] = {
        "enqueue": lambda: queue.enqueue(sample.add, 2, 3),
        "fetch": lambda: Job.fetch(job.id, backend=backend),
        "claim": lambda: backend.claim(["normal"], worker="w", limit=1, lease_seconds=30, now=now),
        "connect": lambda: redis_from_url(url),  # a new connection, accepted, unanswered
    }
    try:
        with frozen(own_server):
            results = time_all(calls, DEFAULT_RETRY_FOR + SLACK + 10)
    finally:
        backend.close()
    for name, (elapsed, outcome) in results.items():
        assert elapsed <= DEFAULT_RETRY_FOR + SLACK, f"{name} took {elapsed:.1f} s"
        assert outcome != "returned", name


@pytest.mark.parametrize("fate", ["ran", "queued", "lost"])
def test_a_lost_enqueue_says_so_and_its_retry_stores_and_runs_it_once(
    own_server: RedisServer, tmp_path: Path, fate: str
) -> None:
    """*fate* of the enqueue whose reply was lost, when the producer retries it:
    stored and already run, stored and still queued, or never stored (Redis
    killed while frozen, the command unread)."""
    url = own_server.url(retry_for="2")
    backend = redis_from_url(url)
    queue = Queue("normal", backend=backend)
    ran = tmp_path / "ran.log"
    workers = WorkerProcesses(url, tmp_path)
    try:
        with frozen(own_server):
            started = time.monotonic()
            with pytest.raises(EnqueueOutcomeUnknownError) as raised:
                queue.enqueue(sample.touch, str(ran), "once")
            assert time.monotonic() - started <= 2 + SLACK
            if fate == "lost":
                own_server.stop(signal.SIGKILL)
        (job_id,) = raised.value.job_ids
        assert repr(job_id) in str(raised.value) and "job_id" in str(raised.value)
        copy = pickle.loads(pickle.dumps(raised.value))
        assert (copy.job_ids, str(copy)) == ([job_id], str(raised.value))
        if fate == "lost":
            own_server.start()
            assert backend.get(job_id) is None
        else:  # Redis reads the command it had when it was frozen, and stores the job
            wait_until(lambda: backend.get(job_id) is not None, what="the lost enqueue")
        if fate == "ran":
            workers.start()
            wait_until(lambda: Job.fetch(job_id, backend=backend).is_finished, what="the run")

        # The documented recovery: the same enqueue again, with the error's id.
        again = queue.enqueue(sample.touch, str(ran), "once", job_id=job_id)
        assert again.id == job_id
        assert again.status is {"ran": JobStatus.FINISHED}.get(fate, JobStatus.QUEUED)
        if fate != "ran":
            workers.start()
        Job.fetch(job_id, backend=backend).wait(15)
        # Another job after it, on the one worker: once it ran, the first had its chance.
        queue.enqueue(sample.touch, str(ran), "after").wait(15)
        assert ran.read_text().split() == ["once", "after"]
        assert check_one_place_each(own_server.client(), "joblane:") == {"finished": 2}
    finally:
        workers.stop_all()
        backend.close()


def test_an_enqueue_that_never_reached_redis_is_a_plain_backend_error(
    own_server: RedisServer,
) -> None:
    backend = redis_from_url(own_server.url(retry_for="1"))
    queue = Queue("normal", backend=backend)
    own_server.stop(signal.SIGKILL)  # connections refused: nothing was sent
    with pytest.raises(BackendError) as raised:
        queue.enqueue(sample.add, 1, 2)
    assert not isinstance(raised.value, EnqueueOutcomeUnknownError)
    backend.close()
