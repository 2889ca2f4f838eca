"""Each rule is decided once, in joblane.core: a rule changed there changes it
on every backend, with no backend edited (the backends are opened after the
change, as a new version of joblane would open them)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from joblane.backends.sqlite import SQLiteBackend
from joblane.core import rules, states
from joblane.core.outcome import Outcome
from joblane.core.states import JobStatus, Registry
from joblane.errors import InvalidStateError
from joblane.testing import ManualClock

from .conftest import Store
from .helpers import claim_one, drive_to, enqueue, make_job, report

NOT_RETRYABLE = Outcome.failure("Traceback ...\nValueError: boom", retryable=False)


def test_the_status_of_a_dependent_of_a_failed_job_follows_core(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rules, "DEPENDENT_OF_FAILED", JobStatus.FAILED)
    backend, clock = store.open(), store.clock
    root = enqueue(backend, clock)
    child = enqueue(backend, clock, "children", depends_on=[root.id], failure_ttl=40)
    grandchild = enqueue(backend, clock, "children", depends_on=[child.id])
    clock.advance(5)
    assert report(backend, clock, claim_one(backend, clock), NOT_RETRYABLE)
    now = clock.now()
    ended = backend.get_many([child.id, grandchild.id])
    assert [(j.status, j.ended) for j in ended if j] == [(JobStatus.FAILED, now)] * 2
    assert ended[0] is not None and ended[0].expires_at == now + 40
    # The registry it lands in follows the status (core.states.STATUS_REGISTRY).
    failed = backend.list_registry("children", Registry.FAILED)
    assert [j.id for j in failed] == sorted([child.id, grandchild.id])
    assert backend.registry_count("children", Registry.CANCELED) == 0
    assert backend.registry_count("children", Registry.FAILED) == 2
    # A job enqueued with a failed dependency is stored so at once.
    late = enqueue(backend, clock, "children", depends_on=[root.id])
    assert (late.status, late.ended) == (JobStatus.FAILED, now)
    assert backend.registry_count("children", Registry.FAILED) == 3


def test_a_dependent_of_a_canceled_job_follows_core(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rules, "DEPENDENT_OF_FAILED", JobStatus.FAILED)
    backend, clock = store.open(), store.clock
    root = drive_to(backend, clock, JobStatus.QUEUED)
    child = enqueue(backend, clock, "children", depends_on=[root.id])
    canceled = backend.cancel(root.id, clock.now())
    assert canceled.status is JobStatus.CANCELED
    stored = backend.get(child.id)
    assert stored is not None and stored.status is JobStatus.FAILED
    assert backend.registry_count("children", Registry.FAILED) == 1


def test_what_cancel_may_end_follows_core(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    cancelable = states.CANCELABLE_STATUSES - {JobStatus.DEFERRED}
    monkeypatch.setattr(states, "CANCELABLE_STATUSES", cancelable)
    backend, clock = store.open(), store.clock
    deferred = drive_to(backend, clock, JobStatus.DEFERRED)
    with pytest.raises(InvalidStateError, match="cannot be canceled"):
        backend.cancel(deferred.id, clock.now())
    queued = drive_to(backend, clock, JobStatus.QUEUED, "other")
    assert backend.cancel(queued.id, clock.now()).status is JobStatus.CANCELED


def test_what_requeue_may_take_back_follows_core(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    requeueable = states.REQUEUEABLE_STATUSES - {JobStatus.CANCELED}
    monkeypatch.setattr(states, "REQUEUEABLE_STATUSES", requeueable)
    backend, clock = store.open(), store.clock
    canceled = drive_to(backend, clock, JobStatus.CANCELED)
    with pytest.raises(InvalidStateError, match="only failed or stopped jobs"):
        backend.requeue(canceled.id, clock.now())


def test_the_sqlite_registry_order_column_matches_core(tmp_path: Path) -> None:
    """SQLite persists a registry's order (the generated column registry_at, which
    its index uses): it must be what core.rules.registry_time says."""
    clock = ManualClock()
    backend = SQLiteBackend(tmp_path / "jobs.db", clock=clock)
    times = {"enqueued": 1.0, "started": 2.0, "ended": 3.0, "scheduled": 4.0}
    jobs = []
    for status in JobStatus:
        for unset in ((), ("ended",), ("ended", "started"), ("ended", "started", "scheduled")):
            fields = {name: (None if name in unset else value) for name, value in times.items()}
            jobs.append(make_job(clock).copy(status=status, **fields))
    backend.enqueue(jobs)
    path = tmp_path / "jobs.db"
    conn = sqlite3.connect(path)
    stored = dict(conn.execute("SELECT id, registry_at FROM jobs"))
    conn.close()
    backend.close()
    assert stored == {job.id: rules.registry_time(job) for job in jobs}


@pytest.mark.parametrize("from_entry", [True, False])
def test_when_a_ttl_starts_counting_follows_core(
    store: Store, monkeypatch: pytest.MonkeyPatch, from_entry: bool
) -> None:
    monkeypatch.setattr(rules, "TTL_FROM_QUEUE_ENTRY", from_entry)
    backend, clock = store.open(), store.clock
    created = clock.now()
    later = backend.enqueue([make_job(clock, scheduled=created + 100, ttl=300)])[0]
    blocker = enqueue(backend, clock, "blockers")
    waiting = enqueue(backend, clock, depends_on=[blocker.id], ttl=300)
    clock.advance(100)
    assert backend.promote_due(clock.now()) == 1
    assert report(backend, clock, claim_one(backend, clock, "blockers"),
                  Outcome.success(b"null"))  # fmt: skip
    base = clock.now() if from_entry else created
    for job in backend.get_many([later.id, waiting.id]):
        assert job is not None and job.status is JobStatus.QUEUED
        assert job.expires_at == base + 300
