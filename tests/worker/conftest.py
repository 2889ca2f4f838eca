"""Real worker processes over a SQLite file: start them, signal them, kill them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest

from joblane import Queue
from joblane.backends.base import Backend
from joblane.config import backend_from_url

ROOT = Path(__file__).resolve().parents[2]


class WorkerProcesses:
    def __init__(self, url: str, tmp_path: Path) -> None:
        self.url = url
        self.tmp_path = tmp_path
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[IO[bytes]] = []

    def start(self, *args: str, name: str | None = None) -> subprocess.Popen[bytes]:
        index = len(self.procs)
        log = (self.tmp_path / f"worker-{index}.log").open("wb")
        self.logs.append(log)
        cmd = [sys.executable, "-m", "joblane", "worker", "--import", "tests.jobs.sample",
               "--name", name or f"w{index}", *args]  # fmt: skip
        # This tree's joblane, whichever checkout is installed.
        path = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
        env = dict(os.environ, JOBLANE_URL=self.url, PYTHONPATH=path)
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def log(self, index: int) -> str:
        return (self.tmp_path / f"worker-{index}.log").read_text()

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        for log in self.logs:
            log.close()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'jobs.db'}"


@pytest.fixture
def backend(db_url: str) -> Iterator[Backend]:
    b = backend_from_url(db_url)
    yield b
    b.close()


@pytest.fixture
def queue(backend: Backend) -> Queue:
    return Queue("normal", backend=backend)


@pytest.fixture
def workers(db_url: str, tmp_path: Path) -> Iterator[WorkerProcesses]:
    procs = WorkerProcesses(db_url, tmp_path)
    yield procs
    procs.stop_all()


def wait_until(predicate: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False
