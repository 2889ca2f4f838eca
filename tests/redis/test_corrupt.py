"""What only Redis can hold: keys of the wrong type, stale index entries, and a
claim script that must not stop halfway. Each costs only itself."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from joblane.backends.redis import RedisBackend
from joblane.core.job import DEFAULT_FAILURE_TTL, JobRecord
from joblane.core.outcome import decide
from joblane.core.states import JobStatus, Registry
from joblane.testing import ManualClock
from tests.contract.helpers import LEASE, SUCCESS, claim, claim_one, enqueue
from tests.corruption import Corrupter


@pytest.fixture(name="backend")
def _backend(clocked_backend: RedisBackend) -> RedisBackend:
    return clocked_backend


@pytest.fixture
def corrupter(backend: RedisBackend) -> Iterator[Corrupter]:
    c = Corrupter(backend.url)
    yield c
    c.close()


def ids(jobs: list[JobRecord]) -> list[str]:
    return [job.id for job in jobs]


def test_a_queue_key_of_another_type_is_skipped_and_the_others_served(
    backend: RedisBackend,
    clock: ManualClock,
    corrupter: Corrupter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert corrupter.redis is not None
    corrupter.redis.set(corrupter.prefix + "qi:broken", "not a sorted set")
    jobs = [enqueue(backend, clock) for _ in range(2)]
    assert ids(claim(backend, clock, ("broken", "normal"))) == ids(jobs)
    assert "queue 'broken' skipped: its key" in caplog.text
    assert "is a string, not a sorted set" in caplog.text


def test_a_registry_key_of_another_type_skips_its_queue_before_any_write(
    backend: RedisBackend, clock: ManualClock, corrupter: Corrupter
) -> None:
    assert corrupter.redis is not None
    corrupter.redis.set(corrupter.prefix + "reg:broken:started", "x")
    stuck = enqueue(backend, clock, "broken")
    served = enqueue(backend, clock, "normal")
    assert ids(claim(backend, clock, ("broken", "normal"))) == [served.id]
    assert backend.get(stuck.id) == stuck  # untouched, still queued
    assert backend.count("broken") == 1


@pytest.mark.parametrize("attempts", ["many", "007", "-0", "+1", "1.0", "9" * 20])
def test_attempts_that_are_not_an_integer_fail_the_job_inside_the_claim(
    backend: RedisBackend, clock: ManualClock, corrupter: Corrupter, attempts: str
) -> None:
    # HINCRBY on it would raise halfway through the script: it is checked first.
    enqueue(backend, clock)
    running = claim_one(backend, clock)
    assert running.lease_token is not None
    bad, good = enqueue(backend, clock), enqueue(backend, clock)
    corrupter.set(bad.id, "attempts", attempts)
    done = decide(running, running.lease_token, SUCCESS, clock.now())
    flags, jobs = backend.claim(
        ["normal"], worker="w", limit=5, lease_seconds=LEASE, now=clock.now(), settle=[done]
    )
    assert (flags, ids(jobs)) == ([True], [good.id])
    stored = backend.get(bad.id)
    assert stored is not None and stored.status is JobStatus.FAILED
    assert stored.last_job_result == (
        f"CorruptRecordError: field 'attempts' of job {bad.id!r}: {attempts!r} is not an integer"
    )
    assert stored.expires_at == clock.now() + DEFAULT_FAILURE_TTL
    assert ids(backend.list_registry("normal", Registry.FAILED)) == [bad.id]
    assert ids(backend.list_registry("normal", Registry.STARTED)) == [good.id]
    assert [j.id for j in backend.expired_leases(clock.now() + LEASE + 1)] == [good.id]


def test_a_job_key_of_another_type_is_taken_off_its_queue(
    backend: RedisBackend,
    clock: ManualClock,
    corrupter: Corrupter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert corrupter.redis is not None
    bad, good = enqueue(backend, clock), enqueue(backend, clock)
    corrupter.redis.delete(corrupter.job_key(bad.id))
    corrupter.redis.rpush(corrupter.job_key(bad.id), "not a hash")
    [listed, _] = backend.list_queued("normal")
    assert listed.id == bad.id and "another type than a hash" in (listed.undecodable or "")
    read = backend.get(bad.id)
    assert read is not None and read.undecodable == listed.undecodable
    assert backend.get_many([good.id, bad.id]) == [good, read]
    assert ids(claim(backend, clock)) == [good.id]
    assert f"job '{bad.id}': its key is a list, not a hash; taken off queue 'normal'" in caplog.text
    assert backend.count("normal") == 0


def test_a_queue_entry_without_a_job_is_taken_off_its_queue(
    backend: RedisBackend, clock: ManualClock, corrupter: Corrupter
) -> None:
    assert corrupter.redis is not None
    gone, good = enqueue(backend, clock), enqueue(backend, clock)
    corrupter.redis.delete(corrupter.job_key(gone.id))
    assert backend.get(gone.id) is None
    assert ids(claim(backend, clock)) == [good.id]
    assert backend.count("normal") == 0


def test_a_registry_page_shows_a_job_whose_hash_is_missing(
    backend: RedisBackend, clock: ManualClock, corrupter: Corrupter
) -> None:
    assert corrupter.redis is not None
    job = enqueue(backend, clock, scheduled=clock.now() + 60)
    corrupter.redis.delete(corrupter.job_key(job.id))
    [listed] = backend.list_registry("normal", Registry.SCHEDULED)
    assert listed.id == job.id and "hash is missing" in (listed.undecodable or "")
