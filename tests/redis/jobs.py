"""Job functions of the Redis tests (importable by worker processes)."""

from __future__ import annotations

import time

from joblane import job


@job
def wall_clock() -> float:
    """The wall clock of the process that runs the job."""
    return time.time()
