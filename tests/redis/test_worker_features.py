"""Every worker feature on Redis: the worker's real-process tests, run unchanged.

Priorities, the scheduler, retries, timeouts, kill -9 recovery, SIGTERM,
refused functions: tests/worker/test_failures.py, with ``db_url`` (this
directory's conftest) naming the shared Redis server.
"""

from tests.worker.test_failures import *  # noqa: F403
