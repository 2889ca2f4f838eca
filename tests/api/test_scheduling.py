"""enqueue_at and enqueue_in: scheduled jobs wait in their registry until due."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone

import pytest

from joblane import InvalidJobError, Job, JobStatus, Queue
from joblane.backends.memory import MemoryBackend
from joblane.core.limits import MAX_DURATION
from joblane.testing import ManualClock
from tests.api.conftest import drain
from tests.jobs import sample


def test_enqueue_in_waits_then_runs_once(
    queue: Queue, backend: MemoryBackend, clock: ManualClock
) -> None:
    job = queue.enqueue_in(timedelta(minutes=5), sample.add, 1, b=2)
    assert job.status is JobStatus.SCHEDULED
    assert job.scheduled_at == datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
    assert job.enqueued_at is None
    assert queue.count == 0
    assert queue.scheduled_job_registry.get_job_ids() == [job.id]

    assert drain(backend).claimed == 0  # not due yet
    assert job.get_status() is JobStatus.SCHEDULED

    clock.advance(299)
    assert drain(backend).claimed == 0
    clock.advance(1)
    stats = drain(backend)
    assert (stats.claimed, stats.finished) == (1, 1)
    assert job.refresh().status is JobStatus.FINISHED
    assert job.return_value == 3
    assert job.attempts == 1
    assert job.enqueued_at == datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
    assert queue.scheduled_job_registry.count == 0

    clock.advance(600)
    assert drain(backend).claimed == 0  # ran once


def test_enqueue_at_aware_datetime(
    queue: Queue, backend: MemoryBackend, clock: ManualClock
) -> None:
    plus_one = timezone(timedelta(hours=1))
    when = datetime(2026, 1, 1, 2, 0, tzinfo=plus_one)  # 01:00 UTC
    job = queue.enqueue_at(when, sample.noop, job_id="at-1")
    assert job.id == "at-1"
    assert job.scheduled_at == datetime(2026, 1, 1, 1, 0, tzinfo=UTC)
    clock.set(when.timestamp())
    drain(backend)
    assert job.get_status() is JobStatus.FINISHED


_NAIVE_IN_TZ = """
import os, sys, time
from datetime import datetime, timedelta
from joblane import InvalidJobError, Queue
from joblane.backends.memory import MemoryBackend
from joblane.testing import ManualClock

time.tzset()
clock = ManualClock(time.time())
queue = Queue("normal", backend=MemoryBackend(clock=clock))
soon = queue.enqueue_at(datetime.now() + timedelta(minutes=5), "tests.jobs.sample.noop")
fixed = queue.enqueue_at(datetime(datetime.now().year + 1, 7, 1, 9, 0), "tests.jobs.sample.noop")
earliest = queue.enqueue_at(datetime.min, "tests.jobs.sample.noop")
try:
    queue.enqueue_at(datetime.max, "tests.jobs.sample.noop")
except InvalidJobError:
    refused = "refused"
delay = soon.record.scheduled - clock.now()
print(delay, fixed.scheduled_at.strftime("%m-%dT%H:%M%z"), earliest.status, refused)
"""


@pytest.mark.parametrize(
    ("tz", "utc"),
    [
        ("Asia/Tokyo", "07-01T00:00+0000"),  # 9:00 at UTC+9
        ("America/New_York", "07-01T13:00+0000"),  # 9:00 at UTC-4 (summer time)
    ],
)
def test_enqueue_at_a_naive_datetime_is_local_time(tz: str, utc: str) -> None:
    # datetime.now() + 5 minutes ran 9 hours late in Tokyo and at once in New York.
    env = {**os.environ, "TZ": tz}
    run = subprocess.run(
        [sys.executable, "-c", _NAIVE_IN_TZ], env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    delay, scheduled, earliest, latest = run.stdout.split()
    assert abs(float(delay) - 300) < 5
    assert scheduled == utc
    assert (earliest, latest) == ("queued", "refused")  # no ValueError at the ends of time


def test_enqueue_at_a_past_time_is_queued_at_once(queue: Queue, backend: MemoryBackend) -> None:
    job = queue.enqueue_at(datetime(2025, 1, 1, tzinfo=UTC), sample.add, 2, 2)
    assert job.status is JobStatus.QUEUED
    assert job.scheduled_at is None
    assert queue.count == 1
    drain(backend)
    assert job.refresh().return_value == 4


def test_enqueue_in_with_options_and_job_kwargs(
    queue: Queue, backend: MemoryBackend, clock: ManualClock
) -> None:
    job = queue.enqueue_in(timedelta(seconds=10), sample.echo, 1, key="v", job_id="in-1", ttl=5)
    assert job.id == "in-1"
    assert job.kwargs == {"key": "v"}
    assert job.record.ttl == 5
    assert job.record.expires_at is None  # ttl counts from when it is due
    clock.advance(10)
    drain(backend)
    assert job.refresh().return_value == {"args": [1], "kwargs": {"key": "v"}}


def test_several_scheduled_jobs_run_as_they_come_due(
    queue: Queue, backend: MemoryBackend, clock: ManualClock
) -> None:
    late = queue.enqueue_in(timedelta(seconds=30), sample.noop)
    soon = queue.enqueue_in(timedelta(seconds=10), sample.noop)
    assert queue.scheduled_job_registry.get_job_ids() == [soon.id, late.id]  # by due time
    clock.advance(10)
    drain(backend)
    assert soon.get_status() is JobStatus.FINISHED
    assert late.get_status() is JobStatus.SCHEDULED
    clock.advance(20)
    drain(backend)
    assert late.get_status() is JobStatus.FINISHED


@pytest.mark.parametrize("when", ["2026-01-01", 1_767_225_600, None])
def test_enqueue_at_needs_a_datetime(queue: Queue, when: object) -> None:
    with pytest.raises(InvalidJobError, match="enqueue_at needs a datetime"):
        queue.enqueue_at(when, sample.noop)  # type: ignore[arg-type]


@pytest.mark.parametrize("delay", [60, 1.5, "PT1M"])
def test_enqueue_in_needs_a_timedelta(queue: Queue, delay: object) -> None:
    with pytest.raises(InvalidJobError, match="enqueue_in needs a timedelta"):
        queue.enqueue_in(delay, sample.noop)  # type: ignore[arg-type]
    assert queue.scheduled_job_registry.count == 0


def test_scheduled_job_is_fetchable(queue: Queue, backend: MemoryBackend) -> None:
    job = queue.enqueue_in(timedelta(hours=1), sample.noop)
    assert Job.fetch(job.id, backend=backend).status is JobStatus.SCHEDULED


def test_enqueue_in_up_to_ten_years(queue: Queue, clock: ManualClock) -> None:
    job = queue.enqueue_in(timedelta(seconds=MAX_DURATION), sample.noop)
    assert job.record.scheduled == clock.now() + MAX_DURATION


@pytest.mark.parametrize("delay", [timedelta.max, timedelta(days=3651), timedelta(days=10**6)])
def test_enqueue_in_past_ten_years_is_refused(queue: Queue, delay: timedelta) -> None:
    # timedelta.max raised OverflowError from deep inside (datetime arithmetic).
    with pytest.raises(InvalidJobError, match=r"enqueue_in's delay must be at most 315360000"):
        queue.enqueue_in(delay, sample.noop)
    assert queue.scheduled_job_registry.count == 0


@pytest.mark.parametrize("delay", [timedelta.min, timedelta(days=-1), timedelta(0)])
def test_enqueue_in_now_or_the_past_is_queued_at_once(queue: Queue, delay: timedelta) -> None:
    job = queue.enqueue_in(delay, sample.noop)
    assert (job.status, job.scheduled_at) == (JobStatus.QUEUED, None)


@pytest.mark.parametrize(
    "when",
    [
        datetime.max,
        datetime.max.replace(tzinfo=timezone(timedelta(hours=-23))),
        datetime(2036, 1, 2, tzinfo=UTC),  # the clock is at 2026-01-01
    ],
)
def test_enqueue_at_past_ten_years_is_refused(queue: Queue, when: datetime) -> None:
    with pytest.raises(InvalidJobError, match=r"at most 315360000 seconds \(10 years\) ahead"):
        queue.enqueue_at(when, sample.noop)
    assert queue.scheduled_job_registry.count == 0


def test_enqueue_at_the_earliest_datetime_is_queued_at_once(queue: Queue) -> None:
    job = queue.enqueue_at(datetime.min.replace(tzinfo=timezone(timedelta(hours=23))), sample.noop)
    assert job.status is JobStatus.QUEUED
