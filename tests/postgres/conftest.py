"""Fixtures of the PostgreSQL backend's own tests: a schema of the test's own
on the session's throwaway server (tests/servers.py), its URL, a backend on it
and real worker processes (``joblane worker`` with ``JOBLANE_URL`` set to it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from joblane.backends.postgres import PostgresBackend, from_url
from tests.servers import postgres_url_for
from tests.worker.conftest import WorkerProcesses


@pytest.fixture
def pg_url(tmp_path: Path) -> str:
    return postgres_url_for(tmp_path)


@pytest.fixture
def pg(pg_url: str) -> Iterator[PostgresBackend]:
    backend = from_url(pg_url)
    yield backend
    backend.close()


@pytest.fixture
def pg_workers(pg_url: str, tmp_path: Path) -> Iterator[WorkerProcesses]:
    procs = WorkerProcesses(pg_url, tmp_path)
    yield procs
    procs.stop_all()
