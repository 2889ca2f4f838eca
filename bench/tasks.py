"""The benchmark's jobs: a no-op and a marker that stamps its start time."""

from __future__ import annotations

import os

from bench.common import write_mark
from joblane import job


@job
def noop(i: int) -> None:
    return None


@job
def mark(i: int) -> None:
    write_mark(os.environ["JOBLANE_BENCH_FIFO"], i)
