"""Jobs that take ctx first, and worker lifecycle hooks (tests/worker/test_async_slots.py).

The hooks write what they saw under the directory named by ``JOBLANE_TEST_DIR``
when it is set (a worker process started by a test).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path
from typing import Any

from joblane import job
from joblane.tasks import register


class Pool:
    """Stands for a connection pool made by on_startup on the slot's loop."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.pid = os.getpid()


def _out(name: str) -> Path | None:
    where = os.environ.get("JOBLANE_TEST_DIR")
    return Path(where) / name if where else None


async def startup(ctx: dict[str, Any]) -> None:
    ctx["pool"] = Pool()
    ctx["startups"] = ctx.get("startups", 0) + 1


def sync_startup(ctx: dict[str, Any]) -> None:
    ctx["pool"] = object()


async def shutdown(ctx: dict[str, Any]) -> None:
    out = _out(f"shutdown-{os.getpid()}")
    if out is not None:
        out.write_text(str(id(ctx.get("pool"))))


def failing_startup(ctx: dict[str, Any]) -> None:
    raise RuntimeError("cannot reach the database")


def job_start(ctx: dict[str, Any]) -> None:
    ctx["hook_saw"] = ctx["job_id"]


async def job_end(ctx: dict[str, Any]) -> None:
    out = _out(f"end-{ctx['job_id']}")
    if out is not None:
        out.write_text(ctx.get("hook_saw", ""))


def _about(ctx: dict[str, Any]) -> dict[str, Any]:
    pool = ctx.get("pool")
    return {
        "job_id": ctx["job_id"],
        "job_try": ctx["job_try"],
        "enqueue_time": ctx["enqueue_time"].isoformat(),
        "queue": ctx["queue"],
        "pid": os.getpid(),
        "pool": id(pool) if pool is not None else None,
        "hook_saw": ctx.get("hook_saw"),
    }


@job(takes_context=True)
async def nap(ctx: dict[str, Any], seconds: float) -> dict[str, Any]:
    """Sleep on the slot's loop; say when, where, and with which pool."""
    pool = ctx.get("pool")
    if isinstance(pool, Pool):
        assert pool.loop is asyncio.get_running_loop()  # usable: made on this loop
    start = time.time()
    await asyncio.sleep(seconds)
    return {**_about(ctx), "start": start, "end": time.time()}


@job(takes_context=True)
async def nap_once(ctx: dict[str, Any], marks: str, first: float, then: float) -> int:
    """Sleep *first* seconds the first time it starts, *then* after; return the starts."""
    path = Path(marks) / ctx["job_id"]
    with path.open("a") as f:
        f.write(f"{os.getpid()}\n")
    starts = len(path.read_text().split())
    await asyncio.sleep(first if starts == 1 else then)
    return starts


@job(takes_context=True)
async def wait_for_cancel(ctx: dict[str, Any], path: str) -> str:
    try:
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        Path(path).write_text("CancelledError")
        raise
    return "not cancelled"


@job(takes_context=True)
async def ignore_cancel(ctx: dict[str, Any], path: str, seconds: float) -> str:
    """Swallow every CancelledError and carry on for *seconds*."""
    Path(path).write_text(f"{os.getpid()}\n")
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            with Path(path).open("a") as f:
                f.write("ignored\n")
    return "done"


@job(takes_context=True)
def sync_about(ctx: dict[str, Any], value: int) -> dict[str, Any]:
    return {**_about(ctx), "value": value, "thread": threading.current_thread().name}


async def listed(ctx: dict[str, Any], invoice_id: int) -> dict[str, Any]:
    """Registered by register(), as a settings loader does (not decorated)."""
    return {**_about(ctx), "invoice_id": invoice_id}


register(listed, takes_context=True)


async def send_invoice_email(ctx: dict[str, Any], invoice_id: int) -> None:
    """Takes ctx but is never registered as such: the job fails with a clear reason."""


@job
async def plain(a: int) -> int:
    return a
