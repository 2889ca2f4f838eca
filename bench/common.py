"""Measurement helpers shared by joblane's benchmark and its peers' (stdlib only:
the peer scripts import this from their own virtualenvs)."""

from __future__ import annotations

import os
import select
import time
from collections.abc import Callable
from pathlib import Path

LATENCY_IDLE_S = 0.020
"""Idle time before each latency sample, the same for every system."""


class MarkReader:
    """Reads the ``"i t"`` lines that marker jobs write into a FIFO when they start."""

    def __init__(self, fifo_path: Path) -> None:
        # O_RDWR: never blocks on open, and writers always find a reader.
        self.fd = os.open(fifo_path, os.O_RDWR | os.O_NONBLOCK)
        self.buf = b""

    def close(self) -> None:
        os.close(self.fd)

    def wait(self, expected: int, timeout_s: float, alive: Callable[[], bool]) -> float:
        """Block until mark(expected) reports; return its start stamp (monotonic)."""
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self.buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"mark({expected}) not seen within {timeout_s:.0f} s")
            if not alive():
                raise RuntimeError("the consumer process exited")
            ready, _, _ = select.select([self.fd], [], [], min(remaining, 0.5))
            if ready:
                self.buf += os.read(self.fd, 4096)
        line, self.buf = self.buf.split(b"\n", 1)
        got, stamp = line.decode().split()
        if int(got) != expected:
            raise RuntimeError(f"expected mark({expected}), got mark({got})")
        return float(stamp)


def write_mark(fifo_path: str | Path, i: int) -> None:
    """Called first thing by a marker job: stamp its start into the FIFO."""
    started = time.monotonic()
    fd = os.open(fifo_path, os.O_WRONLY | os.O_NONBLOCK)
    try:
        os.write(fd, f"{i} {started!r}\n".encode())
    finally:
        os.close(fd)


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default method)."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def fresh_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
