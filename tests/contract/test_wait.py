"""Backend.wait_for_change: True early on a change, False after the timeout.

These tests use real time (a wait is about time), with short timeouts.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from joblane.backends.base import Backend
from joblane.client import Job
from joblane.core.states import JobStatus
from joblane.testing import ManualClock

from .conftest import Store
from .helpers import LEASE, SUCCESS, claim_one, enqueue, make_job, report
from .processes import wait_for_job

LONG = 10.0
"""A wait that a change must cut short (the test fails well before it ends)."""


def test_without_a_change_the_wait_lasts_its_timeout(backend: Backend) -> None:
    backend.wait_for_change(0)
    started = time.monotonic()
    assert backend.wait_for_change(0.05) is False
    assert 0.045 <= time.monotonic() - started < 1.0


def test_a_zero_or_negative_timeout_only_checks(backend: Backend) -> None:
    started = time.monotonic()
    backend.wait_for_change(0)
    assert backend.wait_for_change(0) is False
    assert backend.wait_for_change(-1) is False
    assert time.monotonic() - started < 0.5


def test_a_change_since_the_previous_call_is_reported_once(
    backend: Backend, clock: ManualClock
) -> None:
    backend.wait_for_change(0)
    enqueue(backend, clock)
    assert backend.wait_for_change(0) is True
    assert backend.wait_for_change(0) is False
    enqueue(backend, clock)
    assert backend.wait_for_change(LONG) is True  # at once: it happened before the call


def test_each_thread_sees_the_changes_since_its_own_previous_call(
    backend: Backend, clock: ManualClock
) -> None:
    with ThreadPoolExecutor(max_workers=1) as other:  # always the same other thread
        assert other.submit(backend.wait_for_change, 0).result() is False
        backend.wait_for_change(0)
        enqueue(backend, clock)
        assert backend.wait_for_change(0) is True  # this thread's check...
        assert other.submit(backend.wait_for_change, 0).result() is True  # ...is not the other's
        assert other.submit(backend.wait_for_change, 0).result() is False


def _wait_while(waiter: Backend, change: Callable[[], object]) -> tuple[bool, float]:
    """What a wait_for_change(LONG) on *waiter* returned, and how many seconds
    it lasted, when *change* ran during it."""
    waiter.wait_for_change(0)
    waiting = threading.Event()
    result: list[tuple[bool, float]] = []

    def wait() -> None:
        waiter.wait_for_change(0)  # this thread's first call: only sets its baseline
        waiting.set()
        started = time.monotonic()
        changed = waiter.wait_for_change(LONG)
        result.append((changed, time.monotonic() - started))

    thread = threading.Thread(target=wait)
    thread.start()
    waiting.wait()
    time.sleep(0.05)  # let the wait begin
    change()
    thread.join(LONG + 5)
    return result[0]


def test_an_enqueue_wakes_a_waiter(backend: Backend, clock: ManualClock) -> None:
    changed, lasted = _wait_while(backend, lambda: enqueue(backend, clock))
    assert changed and lasted < LONG / 2


def test_a_settlement_wakes_a_waiter(backend: Backend, clock: ManualClock) -> None:
    enqueue(backend, clock)
    running = claim_one(backend, clock)
    changed, lasted = _wait_while(backend, lambda: report(backend, clock, running, SUCCESS))
    assert changed and lasted < LONG / 2


def test_a_claim_wakes_a_waiter(backend: Backend, clock: ManualClock) -> None:
    enqueue(backend, clock)
    changed, lasted = _wait_while(backend, lambda: claim_one(backend, clock))
    assert changed and lasted < LONG / 2


@pytest.mark.requires(shared_between_processes=True)
def test_a_change_through_another_instance_wakes_a_waiter(store: Store, clock: ManualClock) -> None:
    waiter, producer = store.peers(2)
    changed, lasted = _wait_while(waiter, lambda: producer.enqueue([make_job(clock)]))
    assert changed and lasted < LONG / 2


@pytest.mark.requires(shared_between_processes=True)
def test_a_waiter_sees_another_instance_s_commit_within_milliseconds(
    store: Store, clock: ManualClock
) -> None:
    waiter, producer = store.peers(2)
    producer.enqueue([make_job(clock)])
    changed, lasted = _wait_while(
        waiter,
        lambda: producer.claim(
            ["normal"], worker="w", limit=1, lease_seconds=LEASE, now=clock.now()
        ),
    )
    assert changed and lasted < 0.5  # the test's own pause of 0.05 s, then ~1 ms of polling


@pytest.mark.requires(shared_between_processes=True)
def test_a_change_through_another_instance_since_the_previous_call_is_reported(
    store: Store, clock: ManualClock
) -> None:
    waiter, producer = store.peers(2)
    waiter.wait_for_change(0)
    producer.enqueue([make_job(clock)])
    assert waiter.wait_for_change(0) is True
    assert waiter.wait_for_change(0) is False


def test_calls_that_change_nothing_do_not_count_as_changes(
    backend: Backend, clock: ManualClock
) -> None:
    # An idle worker claims and finds nothing; if that counted as a change, its
    # next wait would return at once, and it would spin on empty claims.
    backend.wait_for_change(0)
    assert backend.claim(["normal"], worker="w", limit=5, lease_seconds=LEASE,
                         now=clock.now()) == ([], [])  # fmt: skip
    assert backend.settle([], clock.now()) == []
    assert backend.promote_due(clock.now()) == 0
    assert backend.purge_expired(clock.now()) == 0
    assert backend.wait_for_change(0) is False


def test_a_waiter_sees_the_outcome_of_a_job_with_result_ttl_zero(
    backend: Backend, clock: ManualClock
) -> None:
    job = Job(enqueue(backend, clock, result_ttl=0), backend)
    with ThreadPoolExecutor(max_workers=1) as waiter:
        waited = waiter.submit(job.wait, LONG)
        time.sleep(0.1)  # the waiter is in its wait
        assert report(backend, clock, claim_one(backend, clock), SUCCESS)
        assert waited.result(timeout=LONG) is job
    assert (job.status, job.return_value) == (JobStatus.FINISHED, {"ok": True})


@pytest.mark.requires(shared_between_processes=True)
def test_a_waiter_in_another_process_sees_the_outcome_of_a_job_with_result_ttl_zero(
    store: Store, clock: ManualClock
) -> None:
    backend = store.open()
    assert store.kind.open_url is not None
    job = enqueue(backend, clock, result_ttl=0)
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    results = context.Queue()
    child = context.Process(
        target=wait_for_job, args=(store.kind.open_url, backend.url, job.id, ready, results)
    )
    child.start()
    try:
        assert ready.wait(timeout=60)
        time.sleep(0.2)  # the child is in its wait
        assert report(backend, clock, claim_one(backend, clock), SUCCESS)
        assert results.get(timeout=60) == ("finished", {"ok": True}, None)
    finally:
        child.join(timeout=30)
