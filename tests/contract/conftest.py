"""The conformance suite: every backend runs the same tests.

A backend joins by adding one :class:`BackendKind` to ``BACKEND_KINDS``. Its
class's :class:`~joblane.backends.base.Capabilities` select the tests that need
a capability (``@pytest.mark.requires(persistent=True)``): a test is generated
only for the backends that have it, so no test skips itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from joblane.backends.base import Backend, Capabilities
from joblane.backends.memory import MemoryBackend
from joblane.backends.postgres import PostgresBackend
from joblane.backends.postgres import from_url as postgres_from_url
from joblane.backends.redis import RedisBackend
from joblane.backends.redis import from_url as redis_from_url
from joblane.backends.sqlite import SQLiteBackend
from joblane.backends.sqlite import from_url as sqlite_from_url
from joblane.core.clock import Clock
from joblane.testing import ManualClock
from tests.servers import postgres_url_for, redis_url_for


@dataclass(frozen=True)
class BackendKind:
    name: str
    capabilities: Capabilities
    open: Callable[[Path, Clock], Backend]
    """Open an instance on the store kept in this (per-test) directory; called
    again, it opens another instance on the same store."""
    open_url: Callable[[str], Backend] | None = None
    """For backends shared between processes: open the store named by an
    instance's ``url`` (must be picklable: a module-level function)."""


BACKEND_KINDS = [
    BackendKind(
        "memory",
        MemoryBackend.capabilities,
        lambda tmp, clock: MemoryBackend(clock=clock),
    ),
    BackendKind(
        "sqlite",
        SQLiteBackend.capabilities,
        lambda tmp, clock: SQLiteBackend(tmp / "jobs.db", clock=clock),
        open_url=sqlite_from_url,
    ),
    BackendKind(
        "redis",
        RedisBackend.capabilities,
        lambda tmp, clock: redis_from_url(redis_url_for(tmp), clock=clock),
        open_url=redis_from_url,
    ),
    BackendKind(
        "postgres",
        PostgresBackend.capabilities,
        lambda tmp, clock: postgres_from_url(postgres_url_for(tmp), clock=clock),
        open_url=postgres_from_url,
    ),
]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "requires(**capabilities): run only on backends whose Capabilities match",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend_kind" not in metafunc.fixturenames:
        return
    wanted: dict[str, bool] = {}
    for marker in metafunc.definition.iter_markers("requires"):
        wanted.update(marker.kwargs)
    kinds = [
        kind
        for kind in BACKEND_KINDS
        if all(getattr(kind.capabilities, name) == value for name, value in wanted.items())
    ]
    metafunc.parametrize("backend_kind", kinds, ids=[kind.name for kind in kinds])


@dataclass
class Store:
    """The storage of one test, and every backend instance opened on it."""

    kind: BackendKind
    directory: Path
    clock: ManualClock
    opened: list[Backend] = field(default_factory=list)

    def open(self) -> Backend:
        backend = self.kind.open(self.directory, self.clock)
        self.opened.append(backend)
        return backend

    def peers(self, count: int) -> list[Backend]:
        """*count* instances on this store: separate ones if the backend is shared
        between processes, else the same one (still shared between threads)."""
        if self.kind.capabilities.shared_between_processes:
            return [self.open() for _ in range(count)]
        first = self.opened[0] if self.opened else self.open()
        return [first] * count


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(backend_kind: BackendKind, tmp_path: Path, clock: ManualClock) -> Iterator[Store]:
    store = Store(backend_kind, tmp_path, clock)
    yield store
    for backend in reversed(store.opened):
        backend.close()


@pytest.fixture
def backend(store: Store) -> Backend:
    return store.open()
