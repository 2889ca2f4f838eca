"""Identity with real worker processes: the restore hook named by --identity is
loaded before the slots fork, and each job runs inside it, in its slot."""

from __future__ import annotations

import subprocess
import sys

import pytest

from joblane import JobStatus, Queue, Retry, acting_as
from tests.jobs import identity as jobs
from tests.worker.conftest import ROOT, WorkerProcesses

pytestmark = pytest.mark.slow

HOOK = ("--import", "tests.jobs.identity", "--identity", "tests.jobs.identity:restore")


def test_each_job_runs_as_its_enqueuer_in_the_slot_process(
    queue: Queue, workers: WorkerProcesses
) -> None:
    with acting_as("alice", site="/Plone"):
        alice = queue.enqueue(jobs.who, meta={"k": "v"})
    with acting_as("bob"):
        bob = queue.enqueue(jobs.who_async)
    nobody = queue.enqueue(jobs.who)
    with acting_as("mallory"):
        refused = queue.enqueue(jobs.who, retry=Retry(max=2))
    workers.start("--concurrency", "2", "--burst", *HOOK)
    assert workers.procs[0].wait(30) == 0, workers.log(0)
    for job in (alice, bob, nobody, refused):
        job.refresh()
    assert alice.status is JobStatus.FINISHED, alice.last_job_result
    result = alice.return_value
    assert result["running_as"] == "alice" and result["meta"] == {"k": "v"}
    assert result["enqueued_by"] == {"user_id": "alice", "context": {"site": "/Plone"}}
    assert result["enqueued"] == pytest.approx(alice.record.enqueued)
    assert bob.return_value["running_as"] == "bob"
    assert nobody.return_value["running_as"] is None
    assert refused.status is JobStatus.FAILED and refused.attempts == 1
    assert refused.last_job_result == (
        "IdentityError: cannot run the job as user 'mallory': no such user in acl_users"
    )


def test_a_worker_without_the_hook_fails_jobs_that_have_an_identity(
    queue: Queue, workers: WorkerProcesses
) -> None:
    with acting_as("alice"):
        job = queue.enqueue(jobs.who)
    workers.start("--burst", "--import", "tests.jobs.identity")
    assert workers.procs[0].wait(30) == 0, workers.log(0)
    job.refresh()
    assert job.status is JobStatus.FAILED
    assert (job.last_job_result or "").startswith(
        "IdentityError: the job was enqueued by user 'alice', and this worker has no identity hook"
    )


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        ("tests.jobs.identity", "is not of the form package.module:name"),
        ("tests.jobs.identity:nothing", "cannot load 'tests.jobs.identity:nothing'"),
        ("tests.jobs.identity:BANNED", "is not callable"),
    ],
)
def test_a_bad_identity_hook_is_refused_in_one_line(
    workers: WorkerProcesses, spec: str, said: str
) -> None:
    proc = workers.start("--burst", "--identity", spec)
    assert proc.wait(30) == 2
    log = workers.log(0)
    assert said in log and "--identity" in log and "Traceback" not in log, log


def test_the_hook_may_come_from_the_environment(queue: Queue, db_url: str) -> None:
    with acting_as("alice"):
        job = queue.enqueue(jobs.who)
    env = {"JOBLANE_URL": db_url, "JOBLANE_IDENTITY": "tests.jobs.identity:restore",
           "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "joblane", "worker", "--burst", "--import", "tests.jobs.identity"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert job.refresh().return_value["running_as"] == "alice"
