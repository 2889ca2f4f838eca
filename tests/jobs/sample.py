"""Job functions the tests enqueue (importable by worker processes)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from joblane import current_job, job


@job
def add(a: int, b: int) -> int:
    return a + b


@job
def noop(*args: Any, **kwargs: Any) -> None:
    return None


@job
def echo(*args: Any, **kwargs: Any) -> dict[str, Any]:
    return {"args": list(args), "kwargs": kwargs}


@job
def fail(message: str = "boom") -> None:
    raise RuntimeError(message)


@job
async def async_add(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a + b


@job
def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@job
def busy_loop(seconds: float) -> str:
    """Spin in pure Python, holding the GIL, never yielding."""
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
    return "done"


@job
def exit_process(code: int = 3) -> None:
    os._exit(code)


@job
def unserializable_result() -> object:
    return {1, 2, 3}


@job
def whoami() -> dict[str, Any]:
    ctx = current_job()
    assert ctx is not None
    return {"id": ctx.id, "queue": ctx.queue, "attempt": ctx.attempt}


@job
def touch(path: str, text: str = "") -> str:
    """Append *text* and a newline to *path* (a record that the job ran)."""
    with Path(path).open("a") as f:
        f.write(text + "\n")
    return text


@job
def flaky(path: str, fail_times: int) -> int:
    """Fail the first *fail_times* runs, counting runs in *path*."""
    p = Path(path)
    runs = int(p.read_text()) + 1 if p.exists() else 1
    p.write_text(str(runs))
    if runs <= fail_times:
        raise RuntimeError(f"flaky failure {runs}")
    return runs


def not_marked(x: int) -> int:
    return x
