"""Measurement helpers shared by joblane's benchmark and its peers' (stdlib only:
the peer scripts import this from their own virtualenvs)."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

LATENCY_IDLE_S = 0.020
"""Idle time before each latency sample, the same for every system."""
FIFO_ENV = "BENCH_FIFO"
"""The peers' marker jobs find the parent's FIFO in this environment variable."""


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


def save_record(kind: str, record: dict[str, object]) -> Path:
    """Write a run's *record* to bench/results/KIND-DATE.json (not committed), with
    the date and this machine's basics added; returns the path."""
    now = datetime.now(UTC)
    machine = {"cpus": os.cpu_count(), "platform": platform.platform(),
               "python": platform.python_version()}  # fmt: skip
    machine.update(record.get("machine") or {})  # type: ignore[call-overload]
    full = {"date": now.isoformat(timespec="seconds"), **record, "machine": machine}
    out = Path(__file__).resolve().parent / "results" / f"{kind}-{now:%Y%m%d-%H%M%S}.json"
    with contextlib.suppress(OSError):
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(full, indent=2))
    return out


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


class GatedProcess:
    """A worker or consumer in a child process (its own process group) that
    starts up, prints ``ready``, and waits on its stdin for ``go``: start-up
    and imports stay out of the measured time, for every system alike.

    Closing its stdin asks it to stop gracefully; :meth:`stop` then escalates to
    SIGTERM and SIGKILL of the whole group, so nothing is ever left behind."""

    def __init__(
        self,
        cmd: list[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        ready_timeout: float = 90.0,
        stop_timeout: float = 15.0,
        stop_signal: signal.Signals | None = None,
    ) -> None:
        self.stop_timeout = stop_timeout
        self.stop_signal = stop_signal
        """Sent to the child (not its group) to stop it, for a child that does not
        stop when its stdin closes."""
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            start_new_session=True, env=None if env is None else dict(env), cwd=cwd,
        )  # fmt: skip
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], ready_timeout)
        line = self.proc.stdout.readline() if ready else ""
        if line.strip() != "ready":
            self.stop()
            raise RuntimeError(f"{cmd[1:3]} did not get ready (exit code {self.proc.poll()})")

    def go(self) -> float:
        """Open the gate; returns the monotonic time just before doing so."""
        assert self.proc.stdin is not None
        t_go = time.monotonic()
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        return t_go

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        """Graceful stop, then SIGTERM, then SIGKILL to the group."""
        if self.proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()
        if self.stop_signal is not None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(self.stop_signal)
        for escalate in (None, signal.SIGTERM, signal.SIGKILL):
            if escalate is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.proc.pid, escalate)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(self.stop_timeout)
                break
        # Pool processes or work horses the worker left behind (same group).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


# --------------------------------------------------------------------------- peer worker child

_proto: TextIO | None = None


def mark_now(i: int) -> None:
    """The body of every peer's ``mark`` job: stamp its start into the parent's FIFO."""
    write_mark(os.environ[FIFO_ENV], i)


def take_stdout() -> None:
    """Keep the real stdout for the ready/go protocol; anything else printed goes to stderr."""
    global _proto
    _proto = os.fdopen(os.dup(1), "w")
    sys.stdout.flush()
    os.dup2(2, 1)


def gate(on_eof: Callable[[], None] | None = None) -> bool:
    """Child: say ``ready``, block until ``go``.  Then, in a thread, wait for stdin to close
    and call ``on_eof`` (default: SIGINT to this process, most peers' graceful stop)."""
    assert _proto is not None
    _proto.write("ready\n")
    _proto.flush()
    if sys.stdin.readline().strip() != "go":
        return False

    def stop_on_eof() -> None:
        sys.stdin.read()  # returns when the parent closes our stdin (or dies)
        if on_eof is None:
            os.kill(os.getpid(), signal.SIGINT)
        else:
            on_eof()

    threading.Thread(target=stop_on_eof, name="stop-on-eof", daemon=True).start()
    return True
