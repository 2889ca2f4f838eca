"""``joblane worker`` as a real process, seen through ``job`` and ``info``."""

from __future__ import annotations

import re
import signal
import subprocess
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.cli.conftest import (
    Cli,
    Processes,
    clean_environ,
    queue_counts,
    run_joblane,
    wait_until,
    worker_rows,
)

pytestmark = pytest.mark.slow

SAMPLE = "tests.jobs.sample"


def test_version() -> None:
    done = run_joblane("--version")
    assert (done.returncode, done.stderr) == (0, "")
    assert re.fullmatch(r"joblane, version \d+\.\d+\.\d+\S*\n", done.stdout), done.stdout
    assert version("joblane") in done.stdout


def test_burst_worker_runs_the_enqueued_jobs(cli: Cli, db_url: str) -> None:
    add = cli.enqueue(f"{SAMPLE}.add", "2", "3")
    echo = cli.enqueue(
        f"{SAMPLE}.echo", "1", '"two"', "[3]", '{"four": 4}', "--kwargs", '{"five": [5]}',
        "--queue", "low",
    )  # fmt: skip
    async_add = cli.enqueue(f"{SAMPLE}.async_add", "40", "2", "--queue", "important")
    fail = cli.enqueue(f"{SAMPLE}.fail", '"on purpose"')
    later = cli.enqueue(f"{SAMPLE}.add", "1", "1", "--in", "1h")

    done = run_joblane("--url", db_url, "worker", "--burst", "--import", SAMPLE, "--name", "b1")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr

    job = cli.job(add)
    assert (job["status"], job["return_value"], job["worker_name"]) == ("finished", 5, "b1")
    assert job["started"] is not None and job["ended"] is not None
    job = cli.job(echo)
    assert (job["status"], job["queue"]) == ("finished", "low")
    assert job["return_value"] == {"args": [1, "two", [3], {"four": 4}], "kwargs": {"five": [5]}}
    assert cli.job(async_add)["return_value"] == 42
    job = cli.job(fail)
    assert job["status"] == "failed"
    assert "RuntimeError: on purpose" in job["last_job_result"]
    assert cli.job(later)["status"] == "scheduled"  # not due: a burst worker leaves it

    out = cli.info()
    counts = queue_counts(out)
    assert counts["important"] == dict.fromkeys(counts["important"], 0) | {"finished": 1}
    assert counts["normal"] == dict.fromkeys(counts["normal"], 0) | {
        "finished": 1, "failed": 1, "scheduled": 1,
    }  # fmt: skip
    assert counts["low"] == dict.fromkeys(counts["low"], 0) | {"finished": 1}
    assert "No live workers." in out  # a burst worker leaves when done


def test_burst_worker_serves_only_its_queues(cli: Cli, db_url: str) -> None:
    on_low = cli.enqueue(f"{SAMPLE}.add", "1", "2", "--queue", "low")
    on_normal = cli.enqueue(f"{SAMPLE}.add", "3", "4")
    done = run_joblane("--url", db_url, "worker", "--burst", "--import", SAMPLE, "-q", "low")
    assert done.returncode == 0, done.stderr
    assert cli.job(on_low)["status"] == "finished"
    assert cli.job(on_normal)["status"] == "queued"


def test_burst_worker_refuses_functions_it_does_not_allow(cli: Cli, db_url: str) -> None:
    job_id = cli.enqueue("os.getcwd")
    done = run_joblane("--url", db_url, "worker", "--burst", "--import", SAMPLE)
    assert done.returncode == 0, done.stderr
    job = cli.job(job_id)
    assert job["status"] == "failed"
    assert "os.getcwd" in job["last_job_result"]


@pytest.mark.parametrize("how", ["--allow", "JOBLANE_ALLOW"])
def test_burst_worker_allows_only_functions_defined_under_its_prefix(
    cli: Cli, db_url: str, tmp_path: Path, how: str
) -> None:
    """A name under the prefix that walks into a module the job module imports
    (os, subprocess, joblane) or names a function taken from one is refused."""
    module = "tests.jobs.reexports"
    markers: list[Path] = []
    refused: list[str] = []
    for name in (
        "os.system",
        "subprocess.getoutput",
        "joblane.config.os.system",
        "system",  # from os import system
    ):
        markers.append(tmp_path / f"pwned-{len(markers)}")
        refused.append(cli.enqueue(f"{module}.{name}", f'"touch {markers[-1]}"'))
    allowed = cli.enqueue(f"{module}.greet", '"worker"')
    if how == "--allow":
        done = run_joblane("--url", db_url, "worker", "--burst", "--allow", "tests.jobs")
    else:
        env = clean_environ(JOBLANE_ALLOW="tests.jobs", JOBLANE_URL=db_url)
        done = run_joblane("worker", "--burst", env=env)
    assert done.returncode == 0, done.stderr
    assert [m for m in markers if m.exists()] == []
    for job_id in refused:
        job = cli.job(job_id)
        assert job["status"] == "failed"
        assert job["last_job_result"].startswith("FunctionNotAllowedError: "), job
    assert cli.job(allowed)["return_value"] == "hello worker"


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_running_worker_is_listed_by_info(
    cli: Cli, db_url: str, tmp_path: Path, processes: Processes, stop: signal.Signals
) -> None:
    """Listed while it runs, running jobs; gone after SIGTERM or Ctrl+C (exit 0)."""
    log = (tmp_path / "worker.log").open("w")
    proc = processes.start(
        "--url", db_url, "worker", "--import", SAMPLE, "--name", "cli-runner",
        "--concurrency", "2", "--queues", "important,normal",
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_until(lambda: "cli-runner" in cli.info(), what="the worker in `info`")
        out = cli.info()
        assert "No live workers." not in out
        row = worker_rows(out)["cli-runner"]
        assert (row["state"], row["queues"], row["slots"]) == ("idle", "important,normal", "2")
        assert row["pid"] == str(proc.pid)
        assert row["heartbeat"]

        # It runs a job enqueued while it runs.
        job_id = cli.enqueue(f"{SAMPLE}.add", "20", "22")
        wait_until(lambda: cli.job(job_id)["status"] == "finished", what="the job to finish")
        job = cli.job(job_id)
        assert (job["return_value"], job["worker_name"]) == (42, "cli-runner")

        proc.send_signal(stop)
        assert proc.wait(30) == 0
    finally:
        log.close()
    assert "No live workers." in cli.info()
    assert "Traceback" not in (tmp_path / "worker.log").read_text()


def test_burst_worker_bounds_results_and_fails_a_nan_result(cli: Cli, db_url: str) -> None:
    kept = cli.enqueue(f"{SAMPLE}.sized_result", "1000")
    dropped = cli.enqueue(f"{SAMPLE}.sized_result", "1001")
    nan = cli.enqueue(f"{SAMPLE}.non_finite_result", '"nan"')
    env = clean_environ(JOBLANE_MAX_RESULT="1000")
    done = run_joblane("--url", db_url, "worker", "--burst", "--import", SAMPLE, env=env)
    assert done.returncode == 0, done.stderr
    assert cli.job(kept)["return_value"] == "x" * 998
    job = cli.job(dropped)
    assert job["status"] == "finished"  # the outcome is kept, the value is not
    assert job["return_value"] == {
        "joblane": "result-dropped",
        "reason": "the return value encodes to 1001 bytes, over the limit of 1000 bytes "
        "(JOBLANE_MAX_RESULT)",
        "bytes": 1001,
    }
    job = cli.job(nan)
    assert (job["status"], job["return_value"]) == ("failed", None)
    assert job["last_job_result"].startswith(
        "ResultSerializationError: return value of tests.jobs.sample.non_finite_result is not "
        "JSON-serializable: float value at ['values'][1] (nan)"
    )


def test_worker_refuses_a_bad_result_limit_at_start(db_url: str) -> None:
    env = clean_environ(JOBLANE_MAX_RESULT="1MB")
    done = run_joblane("--url", db_url, "worker", "--burst", env=env)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == "Error: JOBLANE_MAX_RESULT must be a number of bytes, not '1MB'\n"
