"""Job functions the tests enqueue (importable by worker processes)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path
from typing import Any

from joblane import Retry, RetryJob, current_job, job


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


@job
def record_pid_and_sleep(path: str, seconds: float) -> int:
    """Write this process's pid to *path*, then sleep (to be killed meanwhile)."""
    Path(path).write_text(str(os.getpid()))
    time.sleep(seconds)
    return os.getpid()


# -- added for tests/unit and tests/api ------------------------------------------

_GATES: dict[str, threading.Event] = {}
_GATES_LOCK = threading.Lock()


def gate(key: str) -> threading.Event:
    """The event that :func:`hold` jobs with this *key* wait on (in this process)."""
    with _GATES_LOCK:
        return _GATES.setdefault(key, threading.Event())


@job
def hold(key: str, timeout: float = 5.0) -> bool:
    """Block until ``gate(key).set()`` (or *timeout*): a job that stays started.

    Sets ``gate(key + ":running")`` first, so a test knows the job is running.
    """
    gate(key + ":running").set()
    return gate(key).wait(timeout)


@job
def expire(ttl: int) -> int:
    """A job whose own parameter is named like the ``ttl`` option."""
    return ttl * 2


@job
async def async_whoami() -> str | None:
    await asyncio.sleep(0)
    ctx = current_job()
    return ctx.id if ctx else None


@job
async def async_fail(message: str = "async boom") -> None:
    await asyncio.sleep(0)
    raise ValueError(message)


def whoami_or_none() -> str | None:
    ctx = current_job()
    return ctx.id if ctx else None


@job(unique=True)
def unique_by_default(x: int) -> int:
    return x


@job(job_timeout=7, result_ttl=-1, retry=1)
def with_defaults(x: int) -> int:
    return x


@job
def echo_size(text: str) -> str:
    """Return a string as long as the one received (large results and payloads)."""
    return "r" * len(text)


@job
def enqueue_next(url: str, depth: int) -> int:
    """Enqueue another of itself until *depth* is 0 (work that a job creates)."""
    from joblane import Queue

    if depth > 0:
        Queue("normal", url=url).enqueue(enqueue_next, url, depth - 1)
    return depth


@job
def sized_result(size: int) -> str:
    """Return a string whose JSON encoding is *size* bytes (two of them the quotes)."""
    return "x" * (size - 2)


@job
def non_finite_result(which: str = "nan") -> dict[str, Any]:
    """Return a float JSON cannot carry, nested: ``{"values": [1.0, <which>]}``."""
    return {"values": [1.0, float(which)]}


@job
def deep_result(depth: int) -> list[Any]:
    """Return lists nested *depth* levels deep."""
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


@job
def retry_later(path: str, defer: float, times: int = 1) -> int:
    """Log each run's time.time() to *path*; ask for a retry in *defer* seconds
    (RetryJob) the first *times* runs."""
    p = Path(path)
    with p.open("a") as log:
        log.write(f"{time.time()}\n")
    runs = len(p.read_text().split())
    if runs <= times:
        raise RetryJob(defer=defer)
    return runs


@job(retry=Retry(max=3, on=(TimeoutError, "tests.jobs.sample.Transient")))
def fail_as(path: str, kind: str) -> None:
    """Log a run to *path*, then raise *kind*: ``TimeoutError``, ``Transient``
    (both retried by its policy) or anything else (``KeyError``: not)."""
    with Path(path).open("a") as log:
        log.write("run\n")
    errors = {"TimeoutError": TimeoutError, "Transient": Transient}
    raise errors.get(kind, KeyError)(kind)


class Transient(Exception):
    """A failure :func:`fail_as`'s policy names by its dotted name."""
