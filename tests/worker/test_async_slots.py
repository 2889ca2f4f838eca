"""Slots running several coroutine jobs at once, jobs taking ctx, and the
lifecycle hooks, with real worker processes (``joblane worker``)."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from joblane import JobStatus, Queue
from joblane.backends.base import Backend
from tests.jobs import ctxjobs
from tests.worker.conftest import WorkerProcesses, pid_alive, wait_until

pytestmark = pytest.mark.slow

CTX = ("--import", "tests.jobs.ctxjobs")
HOOKS = ("--on-startup", "tests.jobs.ctxjobs:startup", "--on-shutdown",
         "tests.jobs.ctxjobs:shutdown", "--on-job-start", "tests.jobs.ctxjobs:job_start",
         "--on-job-end", "tests.jobs.ctxjobs:job_end")  # fmt: skip


@pytest.fixture(autouse=True)
def hook_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    out = tmp_path / "hooks"
    out.mkdir()
    monkeypatch.setenv("JOBLANE_TEST_DIR", str(out))  # the workers' hooks write here
    return out


def most_at_once(results: list[dict[str, Any]]) -> int:
    """The most jobs running at one instant, from their start and end times."""
    events = sorted([(r["start"], 1) for r in results] + [(r["end"], -1) for r in results])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def test_fifty_coroutine_jobs_run_at_once_in_one_slot_process(
    queue: Queue, workers: WorkerProcesses, hook_dir: Path
) -> None:
    jobs = [queue.enqueue(ctxjobs.nap, 0.5) for _ in range(50)]
    workers.start(*CTX, *HOOKS, "--concurrency", "1", "--jobs-per-slot", "50")
    results = [j.wait(30).return_value for j in jobs]
    assert most_at_once(results) >= 40  # one wave, not fifty turns
    assert len({r["pid"] for r in results}) == 1  # one slot process held them all
    assert len({r["pool"] for r in results}) == 1  # on_startup's object, shared
    assert results[0]["pool"] is not None
    for job, result in zip(jobs, results, strict=True):
        assert result["job_id"] == job.id and result["job_try"] == 1
        assert result["queue"] == "normal" and result["enqueue_time"].endswith("+00:00")
        assert result["hook_saw"] == job.id  # on_job_start ran first, with this ctx
        assert (hook_dir / f"end-{job.id}").read_text() == job.id  # and on_job_end after


def test_a_timeout_cancels_the_coroutine_alone(
    queue: Queue, workers: WorkerProcesses, tmp_path: Path
) -> None:
    seen = tmp_path / "seen"
    victim = queue.enqueue(ctxjobs.wait_for_cancel, str(seen), job_timeout=1)
    neighbours = [queue.enqueue(ctxjobs.nap, 2.5) for _ in range(4)]
    workers.start(*CTX, "--concurrency", "1", "--jobs-per-slot", "5")
    victim.wait(15)
    assert victim.status is JobStatus.FAILED
    assert (victim.last_job_result or "").startswith("JobTimeoutError")
    assert "was cancelled" in (victim.last_job_result or "")
    assert seen.read_text() == "CancelledError"  # the job saw the cancellation
    results = [j.wait(15).return_value for j in neighbours]
    assert [j.attempts for j in neighbours] == [1] * 4  # not cut short, not re-run
    assert len({r["pid"] for r in results}) == 1


def test_a_coroutine_ignoring_its_cancel_is_killed_with_its_slot_and_neighbours_rerun(
    queue: Queue, workers: WorkerProcesses, tmp_path: Path
) -> None:
    trace = tmp_path / "stubborn"
    marks = tmp_path / "marks"
    marks.mkdir()
    stubborn = queue.enqueue(ctxjobs.ignore_cancel, str(trace), 120, job_timeout=1)
    neighbours = [queue.enqueue(ctxjobs.nap_once, str(marks), 60, 0.1) for _ in range(5)]
    # A 1 s lease: the stubborn job is held (renewed) while it is asked to stop,
    # not taken for lost by the reaper.
    workers.start(*CTX, "--concurrency", "1", "--jobs-per-slot", "6", "--lease", "1")
    stubborn.wait(20)  # 1 s timeout + 5 s to stop, then its slot is killed
    assert stubborn.status is JobStatus.FAILED
    reason = stubborn.last_job_result or ""
    assert reason.startswith("JobTimeoutError") and "did not stop within 5 s" in reason
    slot_pid = int(trace.read_text().split()[0])
    assert "ignored" in trace.read_text().split()
    wait_until(lambda: not pid_alive(slot_pid), timeout=5, what="the killed slot to go")
    # Its neighbours were given back (the attempt not counted) and ran again, to success.
    assert [j.wait(15).return_value for j in neighbours] == [2] * 5
    assert [(j.attempts, j.lost_attempts) for j in neighbours] == [(1, 0)] * 5
    for job in neighbours:
        first, second = (marks / job.id).read_text().split()
        assert first == str(slot_pid) and second != first


def test_cancel_of_one_running_coroutine_leaves_its_neighbours_running(
    queue: Queue, workers: WorkerProcesses, tmp_path: Path
) -> None:
    seen = tmp_path / "seen"
    victim = queue.enqueue(ctxjobs.wait_for_cancel, str(seen))
    neighbours = [queue.enqueue(ctxjobs.nap, 2.0) for _ in range(3)]
    workers.start(*CTX, "--concurrency", "1", "--jobs-per-slot", "4", "--lease", "1")
    wait_until(lambda: all(j.get_status() is JobStatus.STARTED for j in [victim, *neighbours]),
               what="four jobs to start")  # fmt: skip
    victim.cancel()
    wait_until(lambda: victim.get_status() is JobStatus.STOPPED, what="the cancel")
    assert seen.read_text() == "CancelledError"
    results = [j.wait(15).return_value for j in neighbours]
    assert [j.attempts for j in neighbours] == [1] * 3
    assert len({r["pid"] for r in results}) == 1


def test_kill_9_of_a_slot_with_ten_coroutine_jobs_reruns_all_ten(
    queue: Queue, workers: WorkerProcesses, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    jobs = [queue.enqueue(ctxjobs.nap_once, str(marks), 60, 0.1) for _ in range(10)]
    workers.start(*CTX, "--concurrency", "1", "--jobs-per-slot", "10")
    wait_until(lambda: len(list(marks.iterdir())) == 10, what="ten jobs to start")
    (slot_pid,) = {(marks / j.id).read_text().split()[0] for j in jobs}
    os.kill(int(slot_pid), signal.SIGKILL)
    assert [j.wait(20).return_value for j in jobs] == [2] * 10  # each ran again
    for job in jobs:
        assert (job.status, job.attempts, job.lost_attempts) == (JobStatus.FINISHED, 2, 1)
        assert "WorkerLostError" in (job.last_job_result or "")


def test_on_shutdown_runs_in_each_slot_on_sigterm(
    queue: Queue, workers: WorkerProcesses, hook_dir: Path
) -> None:
    jobs = [queue.enqueue(ctxjobs.nap, 0.1) for _ in range(6)]
    proc = workers.start(*CTX, *HOOKS, "--concurrency", "2", "--jobs-per-slot", "3")
    results = [j.wait(15).return_value for j in jobs]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    shut = {p.name.removeprefix("shutdown-"): p.read_text() for p in hook_dir.glob("shutdown-*")}
    assert len(shut) == 2  # both slots
    pools = {str(r["pid"]): str(r["pool"]) for r in results}
    assert all(shut[pid] == pool for pid, pool in pools.items())  # the same ctx


@pytest.mark.parametrize("per_slot", ["1", "3"])
def test_a_failing_on_startup_stops_the_worker_naming_the_hook(
    queue: Queue, backend: Backend, workers: WorkerProcesses, per_slot: str
) -> None:
    waiting = queue.enqueue(ctxjobs.nap, 0)
    proc = workers.start(*CTX, "--on-startup", "tests.jobs.ctxjobs:failing_startup",
                         "--jobs-per-slot", per_slot)  # fmt: skip
    assert proc.wait(20) == 1
    log = workers.log(0)
    assert "tests.jobs.ctxjobs.failing_startup" in log
    assert "RuntimeError: cannot reach the database" in log
    assert waiting.get_status() is JobStatus.QUEUED  # no job was taken, none lost


@pytest.mark.parametrize("per_slot", ["1", "4"])
def test_sync_and_registered_ctx_functions_in_a_slot(
    queue: Queue, workers: WorkerProcesses, per_slot: str
) -> None:
    sync = queue.enqueue(ctxjobs.sync_about, 7)
    listed = queue.enqueue(ctxjobs.listed, invoice_id=42)
    workers.start(*CTX, *HOOKS, "--concurrency", "1", "--jobs-per-slot", per_slot)
    about = sync.wait(15).return_value
    assert (about["value"], about["job_id"], about["job_try"]) == (7, sync.id, 1)
    assert about["pool"] is not None
    if per_slot != "1":  # several at a time: a plain function runs on the slot's threads
        assert about["thread"].startswith("joblane-slot")
    assert listed.wait(15).return_value["invoice_id"] == 42
