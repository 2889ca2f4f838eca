"""Success and failure callbacks in real worker processes (``joblane worker``)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from joblane import job
from joblane.errors import InvalidJobError
from joblane.worker.worker import Worker
from tests.cli.conftest import Cli, clean_environ, parse_time, run_joblane
from tests.jobs.hooked import read_records

pytestmark = pytest.mark.slow

HOOKED = "tests.jobs.hooked"
SAMPLE = "tests.jobs.sample"


def burst(db_url: str, hook_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = run_joblane(
        "--url", db_url, "worker", "--burst", "-c", "2", "--import", HOOKED,
        "--import", SAMPLE, *args, env=clean_environ(HOOK_DIR=str(hook_dir)),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done


def test_worker_callbacks_see_each_end(cli: Cli, db_url: str, tmp_path: Path) -> None:
    ok = cli.enqueue(f"{SAMPLE}.add", "1", "2")
    bad = cli.enqueue(f"{SAMPLE}.fail", '"on purpose"')
    done = burst(db_url, tmp_path, "--on-success", f"{HOOKED}:worker_succeeded",
                 "--on-failure", f"{HOOKED}:worker_failed")  # fmt: skip
    records = read_records(tmp_path)
    assert set(records) == {f"worker-success-{ok}-1", f"worker-failure-{bad}-1"}, records
    success = records[f"worker-success-{ok}-1"]
    assert (success["status"], success["kind"], success["error"]) == ("finished", "succeeded", None)
    failure = records[f"worker-failure-{bad}-1"]
    assert (failure["status"], failure["kind"]) == ("failed", "failed")
    assert "RuntimeError: on purpose" in failure["error"]  # the traceback text
    assert failure["last_job_result"] == failure["error"]
    assert failure["pid"] != os.getpid()  # called in the worker process
    assert "Traceback" not in done.stderr


def test_job_callbacks_run_beside_the_worker_ones(cli: Cli, db_url: str, tmp_path: Path) -> None:
    ok = cli.enqueue(f"{HOOKED}.watched", "false")
    bad = cli.enqueue(f"{HOOKED}.watched", "true")
    burst(db_url, tmp_path, "--on-failure", f"{HOOKED}:worker_failed")
    records = read_records(tmp_path)
    assert set(records) == {
        f"job-success-{ok}-1", f"job-failure-{bad}-1", f"worker-failure-{bad}-1",
    }  # fmt: skip
    assert "ValueError: watched job failed" in records[f"job-failure-{bad}-1"]["error"]
    assert cli.job(ok)["status"] == "finished"


def test_a_retried_attempt_calls_on_failure_with_the_retry_status(
    cli: Cli, db_url: str, tmp_path: Path
) -> None:
    bad = cli.enqueue(f"{SAMPLE}.fail", "--retry", "1", "--retry-interval", "0")
    burst(db_url, tmp_path, "--on-failure", f"{HOOKED}:worker_failed")
    records = read_records(tmp_path)
    first, second = records[f"worker-failure-{bad}-1"], records[f"worker-failure-{bad}-2"]
    assert first["status"] in ("scheduled", "queued")
    assert second["status"] == "failed"


def test_a_raising_callback_is_logged_and_changes_nothing(
    cli: Cli, db_url: str, tmp_path: Path
) -> None:
    ok = cli.enqueue(f"{HOOKED}.exploding", "false")
    bad = cli.enqueue(f"{HOOKED}.exploding", "true")
    also = cli.enqueue(f"{SAMPLE}.add", "2", "2")
    done = burst(db_url, tmp_path, "--on-success", f"{HOOKED}:explode")
    assert cli.job(ok)["status"] == "finished"
    assert cli.job(ok)["return_value"] == "ok"
    job = cli.job(bad)
    assert job["status"] == "failed"
    assert "ValueError: exploding job failed" in job["last_job_result"]
    assert cli.job(also)["return_value"] == 4
    for job_id in (ok, bad, also):
        assert f"RuntimeError: callback exploded on {job_id}" in done.stderr
    assert "raised; the job's outcome stands" in done.stderr
    assert "Traceback" in done.stderr  # logged with its traceback


def test_a_slow_callback_does_not_stall_the_worker(cli: Cli, db_url: str, tmp_path: Path) -> None:
    ids = [cli.enqueue(f"{SAMPLE}.add", str(i), "1") for i in range(4)]
    burst(db_url, tmp_path, "--on-success", f"{HOOKED}:slow")
    ended = sorted(parse_time(cli.job(job_id)["ended"]).timestamp() for job_id in ids)
    assert ended[-1] - ended[0] < 1.5, ended  # a 2 s callback each, run off the loop
    assert len(read_records(tmp_path)) >= 2  # the first calls ran before the drain bound


def test_bad_callback_specs_are_refused(db_url: str, tmp_path: Path) -> None:
    done = run_joblane("--url", db_url, "worker", "--on-failure", "no_colon")
    assert done.returncode == 2, done.stderr
    assert "--on-failure" in done.stderr and "Traceback" not in done.stderr
    done = run_joblane("--url", db_url, "worker", "--on-success", f"{HOOKED}:nothing_here")
    assert done.returncode == 2, done.stderr
    assert "--on-success" in done.stderr
    for option in ("--on-startup", "--on-shutdown", "--on-job-start", "--on-job-end"):
        done = run_joblane("--url", db_url, "worker", option, f"{HOOKED}:nothing_here")
        assert done.returncode == 2, done.stderr
        assert option in done.stderr and "Traceback" not in done.stderr


def test_non_callables_are_refused_early(tmp_path: Path) -> None:
    with pytest.raises(InvalidJobError, match="on_failure"):
        job(on_failure="not callable")
    with pytest.raises(ValueError, match="on_success"):
        Worker(None, on_success=3)  # type: ignore[arg-type]
