"""Waits on a frozen Redis (SIGSTOP: connections are accepted, nothing is
answered): every call returns or raises within ``retry_for``, and an enqueue
whose reply was lost says so and can be retried without storing a second job."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from joblane import BackendError, Job, Queue
from joblane.backends.redis import from_url as redis_from_url
from joblane.backends.redis.connection import DEFAULT_RETRY_FOR
from tests.jobs import sample
from tests.servers import RedisServer

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
