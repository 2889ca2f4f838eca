"""``joblane check`` against real worker processes and a real SQLite file."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import orjson
import pytest

from joblane import Queue
from joblane.backends.base import WorkerInfo
from joblane.backends.memory import MemoryBackend
from joblane.cli.check import BACKEND_DOWN, HEALTHY, JOBS_WAITING, NO_WORKER, assess
from joblane.core.outcome import Start
from joblane.testing import ManualClock
from tests.cli.conftest import (
    Cli,
    Processes,
    assert_one_error_line,
    free_port,
    run_joblane,
    wait_until,
)
from tests.jobs import sample

SAMPLE = "tests.jobs.sample"


def start_worker(processes: Processes, db_url: str, *args: str) -> subprocess.Popen[str]:
    return processes.start(
        "--url", db_url, "worker", "--import", SAMPLE, "-c", "1", *args,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def test_no_worker_fails_naming_the_queue(cli: Cli) -> None:
    result = cli("check", "--queues", "normal")
    assert_one_error_line(result, NO_WORKER, "no live worker", "'normal'")


def test_backend_down_sqlite_unreadable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no-such-dir" / "jobs.db"
    result = Cli(f"sqlite:///{missing}", capsys)("check")
    assert_one_error_line(result, BACKEND_DOWN, "backend down")


def test_backend_down_redis_stopped(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    started = time.monotonic()
    result = Cli(url, capsys)("check")
    assert_one_error_line(result, BACKEND_DOWN, "backend down")
    assert time.monotonic() - started < 30


def test_backend_down_is_one_line_from_a_real_process() -> None:
    done = run_joblane("--url", f"redis://:pw@127.0.0.1:{free_port()}/0?retry_for=1", "check")
    assert done.returncode == BACKEND_DOWN, done
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("Error: backend down"), done
    assert "pw" not in done.stderr and done.stdout == ""


def test_json_output(cli: Cli) -> None:
    result = cli("check", "--json", "-q", "low")
    assert result.code == NO_WORKER
    data = orjson.loads(result.out)
    assert data["healthy"] is False
    assert (data["reason"], data["queue"], data["code"]) == ("no-worker", "low", NO_WORKER)


def test_bad_max_wait_is_a_usage_error(cli: Cli) -> None:
    assert cli("check", "--max-wait", "-1").code == 2
    assert cli("check", "--max-wait", "nan").code == 2


@pytest.mark.slow
def test_idle_worker_is_healthy_and_a_worker_of_other_queues_is_not(
    cli: Cli, db_url: str, processes: Processes
) -> None:
    start_worker(processes, db_url, "-q", "normal")
    wait_until(lambda: cli("check", "-q", "normal").code == HEALTHY, what="a healthy check")
    result = cli("check", "-q", "normal", "--max-wait", "1")
    assert (result.code, result.err) == (HEALTHY, "")
    assert result.out.startswith("healthy: 1 live worker(s)"), result.out
    # a job enqueued now is taken at once: still healthy
    job_id = cli.enqueue(f"{SAMPLE}.add", "1", "2")
    wait_until(lambda: cli.job(job_id)["status"] == "finished", what="the job to finish")
    time.sleep(1.2)
    assert cli("check", "-q", "normal", "--max-wait", "1").code == HEALTHY
    assert_one_error_line(cli("check", "-q", "normal,low"), NO_WORKER, "'low'", "none serves it")


def enqueue_behind_stopped(cli: Cli, worker: subprocess.Popen[str]) -> str:
    """SIGSTOP *worker*, then enqueue a job; if the worker was stopped holding
    the SQLite write lock (the enqueue times out), let it go and try again."""
    for _ in range(5):
        os.kill(worker.pid, signal.SIGSTOP)
        result = cli("enqueue", f"{SAMPLE}.add", "1", "2")
        if result.code == 0:
            return result.out.strip()
        os.kill(worker.pid, signal.SIGCONT)
        time.sleep(0.2)
    raise AssertionError(f"cannot enqueue behind the stopped worker: {result}")


@pytest.mark.slow
def test_stopped_worker_with_waiting_jobs_turns_red(
    cli: Cli, db_url: str, processes: Processes
) -> None:
    worker = start_worker(processes, db_url, "-q", "normal")
    wait_until(lambda: cli("check", "-q", "normal").code == HEALTHY, what="a healthy check")
    try:
        job_id = enqueue_behind_stopped(cli, worker)  # alive and registered, taking nothing
        time.sleep(1.5)
        result = cli("check", "-q", "normal", "--max-wait", "1")
        line = assert_one_error_line(result, JOBS_WAITING, "waiting", "'normal'", job_id)
        assert "over 1 s" in line
        assert cli.job(job_id)["status"] == "queued"
    finally:
        os.kill(worker.pid, signal.SIGCONT)
    wait_until(lambda: cli.job(job_id)["status"] == "finished", what="the job after SIGCONT")
    assert cli("check", "-q", "normal", "--max-wait", "1").code == HEALTHY


def test_a_job_held_and_not_begun_past_the_bound_is_waiting() -> None:
    """A job a worker claimed ahead (or, on Redis, was handed at its enqueue)
    and has not begun counts as waiting: a stopped worker cannot hide it."""
    clock = ManualClock()
    backend = MemoryBackend(clock=clock)
    now = clock.now()
    backend.register_worker(WorkerInfo("w", "host", 1, ("normal",), 1, now, now, now + 3600))
    job = Queue("normal", backend=backend).enqueue(sample.add, 1, 2)
    _, (held,) = backend.claim(["normal"], worker="w", limit=1, lease_seconds=60, now=now,
                               starting=0)  # fmt: skip
    assert held.started is None
    assert assess(backend, ["normal"], 5).code == HEALTHY
    clock.advance(6)
    health = assess(backend, ["normal"], 5)
    assert (health.code, health.job_id) == (JOBS_WAITING, job.id)
    assert "held by worker w and has not begun" in health.message
    assert held.lease_token is not None
    backend.settle([], clock.now(), [Start(held.id, held.lease_token, clock.now())])
    assert assess(backend, ["normal"], 5).code == HEALTHY
