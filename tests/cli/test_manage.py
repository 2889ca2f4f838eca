"""``joblane requeue``, ``empty`` and ``info`` over jobs a real burst worker ran."""

from __future__ import annotations

import pytest

from joblane.backends.base import WorkerInfo
from joblane.config import backend_from_url
from tests.cli.conftest import Cli, assert_one_error_line, queue_counts, run_joblane, table_rows
from tests.corruption import Corrupter

FAIL = "tests.jobs.sample.fail"
ADD = "tests.jobs.sample.add"


def run_burst_worker(db_url: str, *args: str) -> None:
    done = run_joblane("--url", db_url, "worker", "--burst", "--import", "tests.jobs.sample", *args)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr


@pytest.fixture
def failed(cli: Cli, db_url: str) -> list[str]:
    """Three failed jobs on normal (ids fail-1..3), one on low, one finished on normal."""
    ids = [cli.enqueue(FAIL, f'"failure {i}"', "--job-id", f"fail-{i}") for i in (1, 2, 3)]
    cli.enqueue(FAIL, "--queue", "low", "--job-id", "fail-low")
    cli.enqueue(ADD, "1", "2", "--job-id", "sum")
    run_burst_worker(db_url)
    counts = queue_counts(cli.info())
    assert (counts["normal"]["failed"], counts["normal"]["finished"]) == (3, 1)
    assert counts["low"]["failed"] == 1
    return ids


def test_failed_job_shows_its_error(cli: Cli, failed: list[str]) -> None:
    job = cli.job("fail-2")
    assert job["status"] == "failed"
    assert "RuntimeError: failure 2" in job["last_job_result"]
    assert job["ended"] is not None and job["attempts"] == 1


def test_requeue_one_failed_job(cli: Cli, db_url: str, failed: list[str]) -> None:
    assert cli.ok("requeue", "fail-2") == "requeued fail-2 on normal\n"
    job = cli.job("fail-2")
    assert (job["status"], job["queue"]) == ("queued", "normal")
    counts = queue_counts(cli.info())
    assert (counts["normal"]["queued"], counts["normal"]["failed"]) == (1, 2)
    assert counts["low"]["failed"] == 1
    # Now queued, it cannot be requeued again.
    assert_one_error_line(cli("requeue", "fail-2"), 1, "'fail-2'", "queued")
    # A worker runs it again, and it fails again.
    run_burst_worker(db_url)
    job = cli.job("fail-2")
    assert (job["status"], job["attempts"]) == ("failed", 2)


def test_requeue_all_failed_jobs_of_a_queue(cli: Cli, failed: list[str]) -> None:
    assert cli.ok("requeue", "--all", "--queue", "normal") == "requeued 3 failed job(s) on normal\n"
    assert {cli.job(i)["status"] for i in failed} == {"queued"}
    counts = queue_counts(cli.info())
    assert (counts["normal"]["queued"], counts["normal"]["failed"]) == (3, 0)
    assert counts["normal"]["finished"] == 1  # finished jobs stay where they are
    assert (counts["low"]["queued"], counts["low"]["failed"]) == (0, 1)  # other queues too
    assert cli.ok("requeue", "--all", "-q", "normal") == "requeued 0 failed job(s) on normal\n"


def test_requeue_all_on_a_queue_of_its_own(cli: Cli, db_url: str) -> None:
    for _ in range(2):
        cli.enqueue(FAIL, "--queue", "mail")
    run_burst_worker(db_url, "--queues", "mail")
    assert queue_counts(cli.info())["mail"]["failed"] == 2
    assert cli.ok("requeue", "--all", "--queue", "mail") == "requeued 2 failed job(s) on mail\n"
    assert queue_counts(cli.info())["mail"]["queued"] == 2


def test_empty_deletes_the_waiting_jobs(cli: Cli, failed: list[str]) -> None:
    waiting = [cli.enqueue(ADD, str(i), "1") for i in range(4)]
    cli.enqueue(ADD, "1", "1", "--queue", "low")
    assert queue_counts(cli.info())["normal"]["queued"] == 4
    assert cli.ok("empty", "normal") == "deleted 4 job(s) from normal\n"
    counts = queue_counts(cli.info())
    assert counts["normal"]["queued"] == 0
    assert (counts["normal"]["failed"], counts["normal"]["finished"]) == (3, 1)  # not waiting
    assert counts["low"]["queued"] == 1
    assert_one_error_line(cli("job", waiting[0]), 1, repr(waiting[0]))
    assert cli.ok("empty", "normal") == "deleted 0 job(s) from normal\n"


def test_empty_after_requeue_all(cli: Cli, failed: list[str]) -> None:
    cli.ok("requeue", "--all", "--queue", "normal")
    assert cli.ok("empty", "normal") == "deleted 3 job(s) from normal\n"
    assert queue_counts(cli.info())["normal"]["queued"] == 0


def test_info_without_jobs_or_workers(cli: Cli, db_url: str) -> None:
    out = cli.info()
    counts = queue_counts(out)
    assert list(counts) == ["important", "normal", "low"]  # the tiers, in priority order
    assert all(set(c.values()) == {0} for c in counts.values())
    assert list(counts["normal"]) == [
        "queued", "started", "deferred", "scheduled", "finished", "failed", "canceled",
    ]  # fmt: skip
    assert out.rstrip("\n").endswith("No live workers.")
    assert f"Queues({db_url})" in "".join(out.split())  # the title names the backend


def test_info_lists_other_queues_after_the_tiers(cli: Cli) -> None:
    cli.enqueue(ADD, "1", "2", "--queue", "zeta")
    cli.enqueue(ADD, "1", "2", "--queue", "alpha")
    cli.enqueue(ADD, "1", "2", "--queue", "alpha", "--in", "1h")
    counts = queue_counts(cli.info())
    assert list(counts) == ["important", "normal", "low", "alpha", "zeta"]
    assert (counts["alpha"]["queued"], counts["alpha"]["scheduled"]) == (1, 1)
    assert counts["zeta"]["queued"] == 1


def test_info_skips_a_worker_registration_that_does_not_decode(cli: Cli, db_url: str) -> None:
    backend = backend_from_url(db_url)
    now = backend.now()
    for name in ("w-bad", "w-good"):
        backend.register_worker(WorkerInfo(name, "host", 1, ("normal",), 2, now, now, now + 60))
    backend.close()
    corrupter = Corrupter(db_url)
    corrupter.break_worker("w-bad")
    corrupter.close()
    result = cli("info")
    assert result.code == 0, result
    _, rows = table_rows(result.out, "Workers")
    assert [row[0] for row in rows] == ["w-good"]
    assert result.err.startswith("Warning: worker registration ('w-bad', ")
    assert "field 'queues': '[1,' is not valid JSON" in result.err
    assert result.err.count("\n") == 1 and "Traceback" not in result.err
