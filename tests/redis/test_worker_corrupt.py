"""Corrupt records under a real worker process, on Redis: tests/worker/test_corrupt.py
with ``db_url`` (this directory's conftest) naming the shared Redis server."""

from tests.worker.test_corrupt import *  # noqa: F403
