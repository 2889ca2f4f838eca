"""Time comes from Redis: a worker whose clock is off by ten minutes neither
runs a scheduled job early nor presumes a live worker dead."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from joblane import JobStatus, Queue
from joblane.backends.base import Backend
from joblane.backends.redis import RedisBackend
from tests.jobs import sample
from tests.redis import jobs
from tests.worker.conftest import ROOT, WorkerProcesses, wait_until

SKEW = 600.0

SITECUSTOMIZE = f"""
import time
_real_time = time.time
time.time = lambda: _real_time() + {SKEW}
"""


def test_now_is_redis_time_whatever_the_local_clock(
    redis_backend: RedisBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = redis_backend._conn.client
    seconds, micros = client.time()
    assert abs(redis_backend.now() - (seconds + micros / 1e6)) < 0.05
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() - SKEW)
    seconds, micros = client.time()
    assert abs(redis_backend.now() - (seconds + micros / 1e6)) < 0.05


def _start_skewed_worker(url: str, tmp_path: Path, *args: str) -> subprocess.Popen[bytes]:
    skew_dir = tmp_path / "skewed"
    skew_dir.mkdir()
    (skew_dir / "sitecustomize.py").write_text(SITECUSTOMIZE)
    cmd = [sys.executable, "-m", "joblane", "worker", "--import", "tests.jobs.sample",
           "--import", "tests.redis.jobs", "--name", "skewed", *args]  # fmt: skip
    env = dict(os.environ, JOBLANE_URL=url, PYTHONPATH=f"{skew_dir}{os.pathsep}{ROOT}")
    with (tmp_path / "skewed.log").open("wb") as log:  # the child keeps its own copy
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


@pytest.mark.slow
def test_a_worker_with_a_skewed_clock_keeps_to_redis_time(
    db_url: str, backend: Backend, queue: Queue, workers: WorkerProcesses, tmp_path: Path
) -> None:
    long = queue.enqueue(sample.sleep, 3.0)
    workers.start("--lease", "1", "--concurrency", "1")
    wait_until(lambda: long.get_status() is JobStatus.STARTED, what="the long job to start")
    skewed = _start_skewed_worker(db_url, tmp_path, "--lease", "1", "--concurrency", "2")
    try:
        later = queue.enqueue_in(timedelta(seconds=2), jobs.wall_clock)
        later.wait(15)
        long.wait(15)
    finally:
        skewed.kill()
        skewed.wait(5)
    # The skewed worker ran the scheduled job (the other one was busy): its
    # wall clock was ten minutes ahead, yet the job ran at its time, not early.
    assert later.return_value is not None and later.return_value - backend.now() > SKEW - 60
    assert later.started_at is not None and later.scheduled_at is not None
    early_by = (later.scheduled_at - later.started_at).total_seconds()
    assert -1.5 < early_by <= 0
    # Nor did it take the live worker's job for a dead one (its lease is 1 s).
    assert long.status is JobStatus.FINISHED and long.attempts == 1
    assert "WorkerLostError" not in (long.last_job_result or "")


def test_on_an_event_loop_the_refresh_is_awaited_not_made_inline(
    redis_backend: RedisBackend,
) -> None:
    """A due refresh of the offset is a TIME round trip: on an event loop's
    thread ``now()`` leaves it to the async calls, which await it."""
    server = redis_backend._conn.client

    def time_calls() -> int:
        return int(server.info("commandstats").get("cmdstat_time", {}).get("calls", 0))

    clock = redis_backend._redis_clock
    before = time_calls()
    clock.postpone()
    time.sleep(1.05)  # the refresh is due (postpone: at most a second)
    assert clock.due()

    async def main() -> bool:
        redis_backend.now()  # no round trip from the loop's thread
        still_due = clock.due()
        await Queue("normal", backend=redis_backend).aenqueue(sample.add, 1, 2)
        task = redis_backend._aio._states[asyncio.get_running_loop()].clock_task
        assert task is not None
        await task
        return still_due

    assert asyncio.run(main()) is True  # due until the awaited refresh
    assert not clock.due() and time_calls() == before + 1
    clock.postpone()
    time.sleep(1.05)
    redis_backend.now()  # off the loop: measured inline
    assert not clock.due() and time_calls() == before + 2
