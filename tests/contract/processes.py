"""Code that the multi-process tests run in child processes (importable by name,
as the ``spawn`` start method needs)."""

from __future__ import annotations

from collections.abc import Callable
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier, Event
from typing import Any

from joblane.backends.base import Backend
from joblane.core.job import JobOptions, new_job
from joblane.core.outcome import Outcome, decide

SUCCESS = Outcome.success(b"null")


def _take(backend: Backend, name: str) -> list[str]:
    """Claim up to 3 jobs and settle them as finished; their ids."""
    now = backend.now()
    _, jobs = backend.claim(["normal"], worker=name, limit=3, lease_seconds=60, now=now)
    settlements = [decide(job, job.lease_token or "", SUCCESS, now) for job in jobs]
    if settlements:
        assert all(backend.settle(settlements, now))
    return [job.id for job in jobs]


def produce_and_consume(
    open_url: Callable[[str], Backend],
    url: str,
    name: str,
    count: int,
    start: Barrier,
    producers_done: Any,  # a multiprocessing Value("i")
    producers: int,
    results: Queue[tuple[str, list[str], list[str], str | None]],
) -> None:
    """Enqueue *count* jobs (one by one and in small batches) while claiming, then
    claim until every producer is done and the queue is dry. Reports
    (name, enqueued ids, claimed ids, error)."""
    enqueued: list[str] = []
    claimed: list[str] = []
    error = None
    try:
        backend = open_url(url)
        start.wait()
        while len(enqueued) < count:
            size = 1 if len(enqueued) % 2 else 4
            batch = [
                new_job("normal", "tests.work", [name, i], {}, JobOptions(), now=backend.now())
                for i in range(len(enqueued), min(len(enqueued) + size, count))
            ]
            enqueued += [job.id for job in backend.enqueue(batch)]
            claimed += _take(backend, name)
        with producers_done.get_lock():
            producers_done.value += 1
        while True:
            all_done = producers_done.value == producers
            taken = _take(backend, name)
            claimed += taken
            if all_done and not taken:
                break
        backend.close()
    except BaseException as exc:  # reported to the parent, which fails the test
        error = f"{type(exc).__name__}: {exc}"
    results.put((name, enqueued, claimed, error))


def open_and_enqueue(
    open_url: Callable[[str], Backend],
    url: str,
    name: str,
    start: Barrier,
    results: Queue[tuple[str, str | None]],
) -> None:
    """Open a (maybe new) store at the same time as other processes, enqueue one job."""
    error = None
    try:
        start.wait()
        backend = open_url(url)
        backend.enqueue([new_job("normal", "tests.work", [name], {}, JobOptions(), now=0.0)])
        backend.close()
    except BaseException as exc:
        error = f"{type(exc).__name__}: {exc}"
    results.put((name, error))


def wait_for_job(
    open_url: Callable[[str], Backend],
    url: str,
    job_id: str,
    ready: Event,
    results: Queue[tuple[str | None, Any, str | None]],
) -> None:
    """Job.wait() on *job_id* from another process; its status and return value."""
    from joblane.client import Job  # the public client, as a producer process uses it

    try:
        job = Job.fetch(job_id, backend=open_url(url))
        ready.set()
        job.wait(timeout=30)
        results.put((job.status.value, job.return_value, None))
    except BaseException as exc:
        results.put((None, None, f"{type(exc).__name__}: {exc}"))
