"""The benchmark's jobs: a no-op, a marker that stamps its start time, and the
chaos benchmark's step, which logs each of its runs."""

from __future__ import annotations

import os
import time

from bench.common import write_mark
from joblane import current_job, job

RUNLOG_ENV = "JOBLANE_BENCH_RUNLOG"
_runlog: dict[int, int] = {}
"""pid -> the run log's file descriptor (opened once per slot process)."""


@job
def noop(i: int) -> None:
    return None


@job
def mark(i: int) -> None:
    write_mark(os.environ["JOBLANE_BENCH_FIFO"], i)


def _runlog_fd() -> int:
    pid = os.getpid()
    fd = _runlog.get(pid)
    if fd is None:  # first job of this process (a forked slot inherits no entry)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
        fd = _runlog[pid] = os.open(os.environ[RUNLOG_ENV], flags, 0o644)
    return fd


@job
def chaos_step(i: int, sleep_ms: float = 0.0) -> None:
    """bench.chaos's job: one line in the run log when it starts (``S i attempt
    pid ppid t``) and one when its body ends (``E i attempt pid t``); ``t`` is
    the monotonic clock, which all processes of the machine share. Each line is
    one O_APPEND write, so lines of concurrent slots never interleave, and what
    the log says ran is what actually ran."""
    context = current_job()
    attempt = context.attempt if context is not None else 0
    fd = _runlog_fd()
    pid = os.getpid()
    os.write(fd, f"S {i} {attempt} {pid} {os.getppid()} {time.monotonic()!r}\n".encode())
    if sleep_ms > 0:
        time.sleep(sleep_ms / 1000)
    os.write(fd, f"E {i} {attempt} {pid} {time.monotonic()!r}\n".encode())


@job(takes_context=True)
async def io_wait(ctx: dict[str, object], seconds: float) -> None:
    """bench.async_slots's job: wait like a network call, on the slot's loop."""
    import asyncio

    await asyncio.sleep(seconds)
