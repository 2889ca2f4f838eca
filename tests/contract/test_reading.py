"""ReadOnlyBackend: get, get_many, queues, counts, listings, workers, now."""

from __future__ import annotations

import pytest

from joblane.backends.base import Backend, WorkerInfo
from joblane.core.states import REGISTRY_STATUSES, JobStatus, Registry
from joblane.testing import ManualClock

from .helpers import claim, drive_to, enqueue, make_job


def test_now_is_the_clock_s(backend: Backend, clock: ManualClock) -> None:
    assert backend.now() == clock.now()
    clock.advance(12.5)
    assert backend.now() == clock.now()


def test_get_of_a_missing_job_is_none(backend: Backend) -> None:
    assert backend.get("missing") is None


def test_get_many_keeps_the_order_and_marks_the_missing(
    backend: Backend, clock: ManualClock
) -> None:
    a, b = enqueue(backend, clock), enqueue(backend, clock)
    assert backend.get_many([b.id, "missing", a.id, b.id]) == [b, None, a, b]
    assert backend.get_many([]) == []


def test_queue_names_are_the_queues_holding_a_job(backend: Backend, clock: ManualClock) -> None:
    assert backend.queue_names() == []
    enqueue(backend, clock, "normal")
    enqueue(backend, clock, "important")
    drive_to(backend, clock, JobStatus.FAILED, queue="failing")
    drive_to(backend, clock, JobStatus.SCHEDULED, queue="later")
    enqueue(backend, clock, "emptied")
    backend.empty("emptied")
    assert backend.queue_names() == ["failing", "important", "later", "normal"]


def test_count_is_the_queued_jobs_of_a_queue(backend: Backend, clock: ManualClock) -> None:
    for _ in range(3):
        enqueue(backend, clock)
    enqueue(backend, clock, "other")
    claim(backend, clock, limit=1)
    drive_to(backend, clock, JobStatus.SCHEDULED)
    assert (backend.count("normal"), backend.count("other"), backend.count("none")) == (2, 1, 0)


def test_each_registry_counts_its_statuses(backend: Backend, clock: ManualClock) -> None:
    for status in JobStatus:
        drive_to(backend, clock, status, queue=f"q-{status}")
    for registry, statuses in REGISTRY_STATUSES.items():
        for status in JobStatus:
            expected = 1 if status in statuses else 0
            assert backend.registry_count(f"q-{status}", registry) == expected, (registry, status)


def test_list_queued_pages_in_claim_order(backend: Backend, clock: ManualClock) -> None:
    jobs = [enqueue(backend, clock) for _ in range(7)]
    front = enqueue(backend, clock, at_front=True)
    order = [front, *jobs]
    assert backend.list_queued("normal") == order
    assert backend.list_queued("normal", start=2, limit=3) == order[2:5]
    assert backend.list_queued("normal", start=6, limit=10) == order[6:]
    assert backend.list_queued("normal", start=8) == []
    assert backend.list_queued("none") == []


def test_list_registry_pages_oldest_first(backend: Backend, clock: ManualClock) -> None:
    failed = []
    for _ in range(5):
        failed.append(drive_to(backend, clock, JobStatus.FAILED))
        clock.advance(1)
    assert backend.list_registry("normal", Registry.FAILED) == failed
    assert backend.list_registry("normal", Registry.FAILED, start=1, limit=2) == failed[1:3]
    assert backend.list_registry("normal", Registry.FAILED, start=4, limit=5) == failed[4:]
    assert backend.list_registry("normal", Registry.FAILED, start=5) == []
    assert backend.list_registry("other", Registry.FAILED) == []


def test_list_registry_breaks_ties_by_id(backend: Backend, clock: ManualClock) -> None:
    jobs = [make_job(clock, scheduled=clock.now() + 60, job_id=f"job-{i}") for i in (3, 1, 2)]
    backend.enqueue(jobs)
    listed = backend.list_registry("normal", Registry.SCHEDULED)
    assert [j.id for j in listed] == ["job-1", "job-2", "job-3"]


def test_the_scheduled_registry_is_ordered_by_due_time(
    backend: Backend, clock: ManualClock
) -> None:
    start = clock.now()
    late = enqueue(backend, clock, scheduled=start + 50)
    clock.advance(1)
    early = enqueue(backend, clock, scheduled=start + 10)
    listed = backend.list_registry("normal", Registry.SCHEDULED)
    assert [j.id for j in listed] == [early.id, late.id]


def test_the_canceled_registry_holds_canceled_and_stopped_jobs(
    backend: Backend, clock: ManualClock
) -> None:
    stopped = drive_to(backend, clock, JobStatus.STOPPED)
    clock.advance(1)
    canceled = drive_to(backend, clock, JobStatus.CANCELED)
    clock.advance(1)
    stopped_later = drive_to(backend, clock, JobStatus.STOPPED)
    listed = backend.list_registry("normal", Registry.CANCELED)
    assert listed == [stopped, canceled, stopped_later]
    assert backend.registry_count("normal", Registry.CANCELED) == 3


def test_every_registry_lists_what_it_counts(backend: Backend, clock: ManualClock) -> None:
    for status in sorted(JobStatus, key=lambda s: s is JobStatus.QUEUED):  # queued last
        drive_to(backend, clock, status)
    for registry in Registry:
        listed = backend.list_registry("normal", registry)
        assert len(listed) == backend.registry_count("normal", registry)
        assert {j.status for j in listed} <= set(REGISTRY_STATUSES[registry])


def _worker(name: str, clock: ManualClock, ttl: float = 60) -> WorkerInfo:
    now = clock.now()
    return WorkerInfo(
        name=name,
        hostname="host-1",
        pid=4242,
        queues=("important", "normal"),
        concurrency=4,
        started=now,
        heartbeat=now,
        expires=now + ttl,
        current_jobs=("job-a", "job-b"),
        state="busy",
    )


def test_workers_are_the_live_registrations_by_name(backend: Backend, clock: ManualClock) -> None:
    assert backend.workers() == []
    b, a = _worker("b", clock), _worker("a", clock, ttl=10)
    backend.register_worker(b)
    backend.register_worker(a)
    assert backend.workers() == [a, b]
    clock.advance(10)
    assert backend.workers() == [b]  # a's registration expired
    backend.unregister_worker("b")
    backend.unregister_worker("never-registered")
    assert backend.workers() == []


def test_a_heartbeat_refreshes_a_registration(backend: Backend, clock: ManualClock) -> None:
    backend.register_worker(_worker("w", clock, ttl=10))
    clock.advance(8)
    refreshed = _worker("w", clock, ttl=10)
    refreshed.current_jobs = ()
    refreshed.state = "idle"
    backend.register_worker(refreshed)
    clock.advance(8)
    assert backend.workers() == [refreshed]


@pytest.mark.parametrize("limit", [0, 1])
def test_a_page_never_holds_more_than_its_limit(
    backend: Backend, clock: ManualClock, limit: int
) -> None:
    for _ in range(3):
        enqueue(backend, clock)
    assert len(backend.list_queued("normal", 0, limit)) == limit
