"""Fixtures for HTTP-task tests: the settings of one app, a real ASGI app under
uvicorn in a subprocess (tests/http/asgiapp.py), and real worker processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import joblane.http
from joblane import Queue
from joblane.backends.base import Backend
from joblane.config import backend_from_url
from joblane.http import settings as http_settings
from tests.servers import free_port
from tests.worker.conftest import ROOT, WorkerProcesses, wait_until

SECRET = "s3cret-for-tests-0123456789abcdef"
OLD_SECRET = "old-secret-for-tests-0123456789ab"


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    http_settings.reset()
    yield
    http_settings.reset()


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class App:
    """A server subprocess (``python -m <module> PORT RECORD``) and what it recorded."""

    def __init__(self, module: str, tmp_path: Path, env: dict[str, str]) -> None:
        self.module = module
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.record = tmp_path / f"{module.rsplit('.', 1)[-1]}-record.jsonl"
        self.log = tmp_path / f"{module.rsplit('.', 1)[-1]}.log"
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> App:
        env = dict(os.environ, PYTHONPATH=str(ROOT), **self.env)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.module, str(self.port), str(self.record)],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        proc = self.proc
        wait_until(lambda: port_open(self.port) or proc.poll() is not None, 30, "the app")
        assert proc.poll() is None, self.log.read_text()
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def lines(self) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines() if line]


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


def app_env(app_url: str, db_url: str) -> dict[str, str]:
    return {
        "JOBLANE_URL": db_url,
        "JOBLANE_HTTP_BASE_URL": app_url,
        "JOBLANE_HTTP_SECRET": f"{SECRET},{OLD_SECRET}",
    }


@pytest.fixture
def asgi_app(tmp_path: Path, db_url: str) -> Iterator[App]:
    app = App("tests.http.asgiapp", tmp_path, {})
    app.env.update(app_env(app.base_url, db_url))
    joblane.http.configure(base_url=app.base_url, secrets=[SECRET])
    yield app
    app.stop()


@pytest.fixture
def http_workers(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[WorkerProcesses]:
    """Workers that import joblane.http and sign with the secret (not the app's URL)."""
    monkeypatch.setenv("JOBLANE_HTTP_SECRET", SECRET)
    procs = WorkerProcesses(db_url, tmp_path)
    yield procs
    procs.stop_all()


def start_http_worker(workers: WorkerProcesses) -> None:
    workers.start("--import", "joblane.http", "-c", "2")
