"""Each failure path with real worker processes; every job accounted for."""

from __future__ import annotations

import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest

from joblane import JobStatus, Queue, Registry, Retry
from joblane.backends.base import Backend
from joblane.core.states import ENDED_STATUSES
from tests.jobs import sample
from tests.worker.conftest import WorkerProcesses, pid_alive, wait_until

pytestmark = pytest.mark.slow


def statuses(backend: Backend, ids: list[str]) -> list[JobStatus | None]:
    return [r.status if r else None for r in backend.get_many(ids)]


def test_kill_9_mid_job_is_recovered_by_another_worker(
    queue: Queue, backend: Backend, workers: WorkerProcesses, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    victim = queue.enqueue(sample.record_pid_and_sleep, str(pid_file), 2.0, retry=Retry(max=1))
    others = [queue.enqueue(sample.add, i, i) for i in range(20)]
    first = workers.start("--lease", "1", "--concurrency", "1")
    wait_until(pid_file.exists, what="the job to start")
    job_pid = int(pid_file.read_text())
    first.send_signal(signal.SIGKILL)
    first.wait(5)
    # The slot process dies with its worker (PR_SET_PDEATHSIG), not left running.
    wait_until(lambda: not pid_alive(job_pid), timeout=5, what="the orphaned job process")
    assert victim.get_status() is JobStatus.STARTED  # still findable, not lost
    killed_at = time.monotonic()
    workers.start("--lease", "1", "--concurrency", "2")
    ids = [victim.id] + [j.id for j in others]
    wait_until(lambda: all(s is JobStatus.FINISHED for s in statuses(backend, ids)),
               timeout=20, what="every job to finish")  # fmt: skip
    victim.refresh()
    assert victim.attempts == 2
    assert "WorkerLostError" in (victim.last_job_result or "")
    assert time.monotonic() - killed_at < 10  # recovery bound with a 1 s lease


def test_kill_9_without_retries_reruns_the_job_until_max_lost(
    queue: Queue, workers: WorkerProcesses, tmp_path: Path
) -> None:
    # No retry policy (RQ's default): a job lost with its worker still runs
    # again, and one that is lost every time fails after --max-lost losses.
    pid_file = tmp_path / "pid"
    victim = queue.enqueue(sample.record_pid_and_sleep, str(pid_file), 30.0)
    for run in (1, 2):
        worker = workers.start("--lease", "1", "--concurrency", "1", "--max-lost", "2")
        wait_until(pid_file.exists, what=f"run {run} to start")
        pid_file.unlink()
        worker.send_signal(signal.SIGKILL)
        worker.wait(5)
        if run == 1:
            victim.refresh()
            assert victim.status is JobStatus.STARTED  # until its lease lapses
    workers.start("--lease", "1", "--max-lost", "2")
    wait_until(lambda: victim.get_status() is JobStatus.FAILED, what="the second loss")
    victim.refresh()
    assert (victim.attempts, victim.lost_attempts) == (2, 2)
    assert victim.last_job_result is not None
    assert victim.last_job_result.startswith("WorkerLostError")
    assert "lost 2 times (max_lost=2)" in victim.last_job_result
    assert not pid_file.exists()  # it did not run a third time


def test_a_recovered_job_runs_before_the_backlog(
    queue: Queue, backend: Backend, workers: WorkerProcesses, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    victim = queue.enqueue(sample.record_pid_and_sleep, str(pid_file), 5)
    first = workers.start("--lease", "1", "--concurrency", "1")
    wait_until(pid_file.exists, what="the job to start")
    pid_file.unlink()
    # A backlog that one slot needs 30 s for: behind it, the victim would wait.
    # (One round trip, so the victim is surely still running when its worker is killed.)
    backlog = queue.enqueue_many([Queue.prepare_data(sample.sleep, (0.1,)) for _ in range(300)])
    first.send_signal(signal.SIGKILL)
    first.wait(5)
    workers.start("--lease", "1", "--concurrency", "1")
    wait_until(pid_file.exists, timeout=20, what="the recovered job to run again")
    victim.wait(15)
    assert (victim.status, victim.attempts, victim.lost_attempts) == (JobStatus.FINISHED, 2, 1)
    done = sum(s is JobStatus.FINISHED for s in statuses(backend, [j.id for j in backlog]))
    assert done < 50  # it ran first, not after the backlog


def test_busy_loop_over_timeout_is_killed_and_worker_keeps_serving(
    queue: Queue, workers: WorkerProcesses
) -> None:
    spinner = queue.enqueue(sample.busy_loop, 60, job_timeout=1)
    workers.start("--concurrency", "1")
    wait_until(lambda: spinner.get_status() is JobStatus.FAILED, timeout=10, what="timeout")
    assert (spinner.last_job_result or "").startswith("JobTimeoutError")
    after = queue.enqueue(sample.add, 2, 3)
    assert after.wait(10).return_value == 5


def test_os_exit_is_a_lost_attempt_and_a_poison_job_fails_after_max_lost(
    queue: Queue, workers: WorkerProcesses
) -> None:
    # Its process dies under it: run again whatever its retry policy (none
    # here), and failed after the third loss (the default max_lost).
    poison = queue.enqueue(sample.exit_process, 7)
    neighbours = [queue.enqueue(sample.add, i, 1) for i in range(10)]
    workers.start("--concurrency", "2")
    poison.wait(15)
    assert poison.status is JobStatus.FAILED
    assert (poison.attempts, poison.lost_attempts) == (3, 3)
    assert "exited with status 7" in (poison.last_job_result or "")
    assert "lost 3 times (max_lost=3)" in (poison.last_job_result or "")
    assert [j.wait(10).return_value for j in neighbours] == [i + 1 for i in range(10)]


def test_sigterm_lets_running_jobs_finish_then_requeues_the_rest(
    queue: Queue, backend: Backend, workers: WorkerProcesses
) -> None:
    short = [queue.enqueue(sample.sleep, 0.5) for _ in range(2)]
    long = queue.enqueue(sample.sleep, 60)
    waiting = [queue.enqueue(sample.add, 1, 1) for _ in range(3)]
    proc = workers.start("--concurrency", "3", "--grace", "5")
    wait_until(lambda: all(j.get_status() is JobStatus.STARTED for j in [*short, long]),
               what="three jobs to start")  # fmt: skip
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    assert [j.get_status() for j in short] == [JobStatus.FINISHED] * 2
    long.refresh()
    assert long.status is JobStatus.QUEUED
    assert long.attempts == 0  # the interrupted attempt is given back
    assert [j.get_status() for j in waiting] == [JobStatus.QUEUED] * 3
    assert backend.registry_count("normal", Registry.STARTED) == 0


def test_second_sigterm_stops_at_once_and_requeues(queue: Queue, workers: WorkerProcesses) -> None:
    long = queue.enqueue(sample.sleep, 60)
    proc = workers.start("--concurrency", "1", "--grace", "60")
    wait_until(lambda: long.get_status() is JobStatus.STARTED, what="the job to start")
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(5) == 0
    assert long.get_status() is JobStatus.QUEUED


def test_two_workers_run_each_scheduled_job_exactly_once(
    queue: Queue, backend: Backend, workers: WorkerProcesses, tmp_path: Path
) -> None:
    log = tmp_path / "ran.log"
    jobs = [
        queue.enqueue_in(timedelta(seconds=1), sample.touch, str(log), f"job{i}") for i in range(30)
    ]
    assert backend.registry_count("normal", Registry.SCHEDULED) == 30
    workers.start("--concurrency", "2")
    workers.start("--concurrency", "2")
    wait_until(lambda: all(s in ENDED_STATUSES for s in statuses(backend, [j.id for j in jobs])),
               what="every scheduled job to end")  # fmt: skip
    lines = log.read_text().split()
    assert sorted(lines) == sorted(f"job{i}" for i in range(30))  # each ran exactly once
    for job in jobs:
        job.refresh()
        assert job.status is JobStatus.FINISHED and job.attempts == 1
        assert job.started_at is not None and job.scheduled_at is not None
        # moved to its queue within a second of its time (plus a margin for a loaded machine)
        assert (job.started_at - job.scheduled_at).total_seconds() < 3


def test_gil_holding_job_keeps_its_lease(queue: Queue, workers: WorkerProcesses) -> None:
    # Spin for over three lease periods while a second worker looks for dead leases.
    spinner = queue.enqueue(sample.busy_loop, 3.5)
    workers.start("--lease", "1", "--concurrency", "1")
    workers.start("--lease", "1", "--concurrency", "1")
    spinner.wait(15)
    assert spinner.status is JobStatus.FINISHED
    assert spinner.attempts == 1


def test_strict_priority_across_tiers(
    backend: Backend, workers: WorkerProcesses, tmp_path: Path
) -> None:
    ran = tmp_path / "ran.log"
    for name in ("low", "normal", "important"):
        for _ in range(5):
            Queue(name, backend=backend).enqueue(sample.touch, str(ran), name)
    workers.start("--concurrency", "1", "--burst")
    assert workers.procs[0].wait(20) == 0
    assert ran.read_text().split() == ["important"] * 5 + ["normal"] * 5 + ["low"] * 5


def test_function_not_allowed_and_unimportable_fail_cleanly(
    queue: Queue, workers: WorkerProcesses
) -> None:
    refused = queue.enqueue("tests.jobs.sample.not_marked", 1)
    missing = queue.enqueue("tests.jobs.nosuchmodule.func", 1)
    workers.start("--allow", "tests.jobs.nosuchmodule", "--burst")
    assert workers.procs[0].wait(20) == 0
    refused.refresh()
    missing.refresh()
    assert refused.status is JobStatus.FAILED
    assert (refused.last_job_result or "").startswith("FunctionNotAllowedError")
    assert missing.status is JobStatus.FAILED
    assert (missing.last_job_result or "").startswith("FunctionImportError")
    assert "tests.jobs.nosuchmodule" in (missing.last_job_result or "")


def test_cancel_of_a_started_job_stops_it_and_the_worker_goes_on(
    queue: Queue, workers: WorkerProcesses, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    victim = queue.enqueue(sample.record_pid_and_sleep, str(pid_file), 60.0)
    workers.start("--concurrency", "1", "--lease", "1")
    wait_until(pid_file.exists, what="the job to start")
    job_pid = int(pid_file.read_text())
    victim.cancel()  # started: the worker sees the request at its next lease renewal
    wait_until(lambda: victim.get_status() is JobStatus.STOPPED, timeout=10, what="the stop")
    wait_until(lambda: not pid_alive(job_pid), timeout=5, what="the job's process to end")
    after = queue.enqueue(sample.add, 1, 1)
    assert after.wait(10).return_value == 2
