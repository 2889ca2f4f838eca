"""Real producer and worker processes over a SQLite file: no job of an aborted
transaction runs, every job of a committed one runs exactly once, and a producer
killed between commit and store loses nothing while the spool is on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from joblane import Registry
from joblane.config import backend_from_url
from tests.jobs.ledger import tags
from tests.worker.conftest import ROOT, WorkerProcesses, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'jobs.db'}"


@pytest.fixture
def workers(db_url: str, tmp_path: Path) -> Iterator[WorkerProcesses]:
    procs = WorkerProcesses(db_url, tmp_path)
    yield procs
    procs.stop_all()


def produce(db_url: str, ledger: Path, mode: str) -> tuple[int, list[str], list[str]]:
    """Run the producer; its exit code and the tags it committed and aborted."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "tests.contrib.producer", db_url, str(ledger), mode],
        cwd=ROOT, env=env, capture_output=True, timeout=60,
    )  # fmt: skip
    committed: list[str] = []
    aborted: list[str] = []
    for line in done.stdout.decode().splitlines():
        report = json.loads(line)
        (committed if report["committed"] else aborted).extend(report["tags"])
    return done.returncode, committed, aborted


def start_worker(workers: WorkerProcesses) -> None:
    workers.start("--import", "tests.jobs.ledger", "-c", "2")


def idle(db_url: str) -> bool:
    backend = backend_from_url(db_url)
    try:
        started = backend.list_registry("normal", Registry.STARTED)
        return backend.count("normal") == 0 and not started
    finally:
        backend.close()


def test_aborted_never_run_and_committed_run_once(
    db_url: str, tmp_path: Path, workers: WorkerProcesses
) -> None:
    ledger = tmp_path / "ledger"
    start_worker(workers)
    start_worker(workers)
    code, committed, aborted = produce(db_url, ledger, "mixed")
    assert code == 0 and len(committed) == 30 and len(aborted) == 50
    wait_until(lambda: len(tags(str(ledger))) >= len(committed), what="the committed jobs")
    wait_until(lambda: idle(db_url), what="the queue drained")
    runs = Counter(tags(str(ledger)))
    assert runs == Counter(committed)  # each once; no aborted or rolled-back tag


@pytest.mark.parametrize("spool", [True, False], ids=["spool", "no-spool"])
def test_a_producer_killed_between_commit_and_store(
    db_url: str, tmp_path: Path, workers: WorkerProcesses, spool: bool
) -> None:
    ledger = tmp_path / "ledger"
    code, committed, _ = produce(db_url, ledger, "kill" if spool else "kill-nospool")
    assert code == -signal.SIGKILL and len(committed) == 5
    spooled = list((tmp_path / "jobs.db.spool").glob("*.jobs"))
    assert len(spooled) == (1 if spool else 0)
    start_worker(workers)  # replays the spool at start
    if spool:
        wait_until(lambda: len(tags(str(ledger))) >= 5, what="the spooled jobs")
    wait_until(lambda: idle(db_url), what="the queue drained")
    runs = Counter(tags(str(ledger)))
    if spool:
        assert runs == Counter(committed)
        assert list((tmp_path / "jobs.db.spool").glob("*.jobs")) == []
    else:
        # What the spool is for: without it these jobs of a committed
        # transaction are gone.
        assert runs == Counter()
