"""Seed 003 as its user writes it (only the imports adapted): a FastAPI app under
uvicorn enqueues with ``await enqueue("send_invoice_email", invoice_id=id)``,
three ``joblane worker --settings`` processes run ``send_invoice_email(ctx,
invoice_id)`` and a cron job that fires once per tick among them, and
``joblane check`` turns red while the workers are stopped (SIGSTOP) with jobs
waiting, green again once they run. On a Redis server of the test's own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from joblane.backends.redis import RedisBackend
from joblane.cli.check import HEALTHY, JOBS_WAITING
from joblane.client import Job
from joblane.config import backend_from_url
from joblane.core.states import JobStatus
from joblane.schedules import META_KEY
from tests.cli.conftest import ROOT, Processes, clean_environ, free_port, run_joblane, wait_until
from tests.servers import RedisServer

SETTINGS = "tests.seed003.worker:WorkerSettings"
CLEANUP = "tests.seed003.worker.cleanup_stale_invoices"


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    server = RedisServer(tmp_path / "redis").start()
    yield server.url()
    server.stop()


@pytest.fixture
def processes() -> Iterator[Processes]:
    procs = Processes()
    yield procs
    procs.stop_all()


def lines(log: Path, kind: str) -> list[list[str]]:
    if not log.exists():
        return []
    return [line.split() for line in log.read_text().splitlines() if line.startswith(kind + " ")]


def start_app(processes: Processes, env: dict[str, str], port: int) -> subprocess.Popen[str]:
    proc: subprocess.Popen[str] = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "tests.seed003.app:app", "--port", str(port),
         "--host", "127.0.0.1", "--log-level", "warning"],
        cwd=ROOT, env=env, text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    processes.procs.append(proc)
    return proc


def check(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_joblane("check", "--max-wait", "2", *args, env=env)


def test_seed_003_end_to_end(redis_url: str, processes: Processes, tmp_path: Path) -> None:
    log = tmp_path / "seed003.log"
    env = clean_environ(JOBLANE_URL=redis_url, SEED003_LOG=str(log))
    port = free_port()
    start_app(processes, env, port)
    workers = [
        processes.start(
            "worker",
            "--settings",
            SETTINGS,
            "-c",
            "1",
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(3)
    ]
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: _up(base), 20, "uvicorn serving the app")

    # The handler enqueues with await and answers at once with the job's id.
    with httpx.Client(base_url=base, timeout=10) as client:
        ids = {n: client.post(f"/invoices/{n}/send").json()["job_id"] for n in range(1, 21)}
    wait_until(lambda: len(lines(log, "invoice")) >= 20, 30, "20 invoices sent")
    sent = lines(log, "invoice")
    assert sorted(int(line[1]) for line in sent) == list(range(1, 21))  # each once
    assert {line[2] for line in sent} == set(ids.values())  # ctx["job_id"]
    assert {line[3] for line in sent} == {"1"}  # ctx["job_try"]
    assert all(line[4].startswith("client-") for line in sent)  # on_startup's ctx["http"]

    backend = backend_from_url(redis_url)
    assert isinstance(backend, RedisBackend)
    for job_id in ids.values():
        job = Job.fetch(job_id, backend=backend)
        assert job.status is JobStatus.FINISHED and job.func_name == "send_invoice_email"

    # The cron job fires once per tick however many workers run it.
    wait_until(lambda: len(lines(log, "tick")) >= 4, 30, "four cron ticks")
    ticks = [Job.fetch(line[1], backend=backend).meta[META_KEY]["tick"]
             for line in lines(log, "tick")]  # fmt: skip
    assert max(Counter(ticks).values()) == 1, ticks

    # A misspelt name: the producer cannot know the worker's tasks, the worker names them.
    enqueued = run_joblane("enqueue", "send_invoice_emial", "--kwargs", '{"invoice_id": 99}',
                           env=env)  # fmt: skip
    assert enqueued.returncode == 0, enqueued.stderr
    typo = Job.fetch(enqueued.stdout.strip(), backend=backend)
    wait_until(lambda: typo.refresh().status is JobStatus.FAILED, 15, "the misspelt job failed")
    assert "UnknownTaskError: no task named 'send_invoice_emial'" in (typo.last_job_result or "")
    assert "send_invoice_email" in (typo.last_job_result or "").split("its tasks:")[1]

    wait_until(lambda: check(env).returncode == HEALTHY, 20, "joblane check green")

    # Workers frozen while jobs wait: check turns red naming the wait; thawed, green again.
    for worker in workers:
        os.kill(worker.pid, signal.SIGSTOP)
    try:
        with httpx.Client(base_url=base, timeout=10) as client:
            waiting = [client.post(f"/invoices/{n}/send").json()["job_id"] for n in (21, 22)]
        time.sleep(2.5)  # past --max-wait
        red = check(env)
        assert red.returncode == JOBS_WAITING, red
        assert "waiting" in red.stderr and waiting[0] in red.stderr
    finally:
        for worker in workers:
            os.kill(worker.pid, signal.SIGCONT)
    wait_until(lambda: len(lines(log, "invoice")) >= 22, 30, "the waiting invoices sent")
    wait_until(lambda: check(env).returncode == HEALTHY, 20, "joblane check green again")

    # SIGTERM: each worker drains and its slots run on_shutdown.
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        assert worker.wait(30) == 0
    assert len(lines(log, "shutdown")) == 3


def _up(base: str) -> bool:
    try:
        return httpx.get(base + "/docs", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
