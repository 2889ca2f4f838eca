"""Fixtures for the transaction adapters: a SQLite file, the Zope ``transaction``
adapter installed for one test (and removed after it)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import transaction

from joblane import Queue
from joblane.backends.base import Backend
from joblane.config import backend_from_url
from joblane.contrib.transaction import TransactionJobs, install


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "jobs.db"


@pytest.fixture
def backend(db_path: Path) -> Iterator[Backend]:
    b = backend_from_url(f"sqlite:///{db_path}?busy_timeout=0.2")
    yield b
    b.close()


@pytest.fixture
def queue(backend: Backend) -> Queue:
    return Queue("normal", backend=backend)


@pytest.fixture
def adapter() -> Iterator[TransactionJobs]:
    """Enqueues join ``transaction.manager``'s transactions (retries kept short)."""
    transaction.abort()
    joined = install(retries=1, retry_delay=0.05)
    yield joined
    transaction.abort()
    joined.uninstall()


class LockingResource:
    """A data manager that locks the SQLite file in its tpc_finish, before
    joblane's (its sortKey sorts first): joblane's store then fails."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.transaction_manager = transaction.manager
        self.lock: sqlite3.Connection | None = None

    def sortKey(self) -> str:
        return "a-lock"

    def abort(self, txn: object) -> None:
        pass

    def tpc_begin(self, txn: object) -> None:
        pass

    def commit(self, txn: object) -> None:
        pass

    def tpc_vote(self, txn: object) -> None:
        pass

    def tpc_finish(self, txn: object) -> None:
        self.lock = sqlite3.connect(self.path, isolation_level=None)
        self.lock.execute("BEGIN EXCLUSIVE")

    def tpc_abort(self, txn: object) -> None:
        pass

    def release(self) -> None:
        assert self.lock is not None
        self.lock.execute("ROLLBACK")
        self.lock.close()
