"""The Redis backend beyond the contract: real workers, faults, limits.

The worker's fixtures (tests/worker/conftest.py) are reused with ``db_url``
pointing at Redis, so that tests/redis/test_worker_features.py runs the
worker's own real-process tests on Redis unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from joblane.backends.redis import RedisBackend
from joblane.backends.redis import from_url as redis_from_url
from joblane.testing import ManualClock
from tests.servers import RedisServer, redis_url_for
from tests.worker.conftest import backend, queue, workers

__all__ = ["backend", "queue", "workers"]


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """The shared Redis server, under a key prefix of this test's own."""
    return redis_url_for(tmp_path)


@pytest.fixture
def redis_backend(db_url: str) -> Iterator[RedisBackend]:
    b = redis_from_url(db_url)
    yield b
    b.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def clocked_backend(db_url: str, clock: ManualClock) -> Iterator[RedisBackend]:
    """A backend on ``db_url`` whose time is *clock*'s."""
    b = redis_from_url(db_url, clock=clock)
    yield b
    b.close()


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis server of this test's own, with persistence (AOF, fsync always)."""
    server = RedisServer(tmp_path / "redis", persistent=True).start()
    yield server
    server.stop()
