"""Tasks in arq's style, listed by worker settings (tests/unit/test_settings.py,
tests/worker/test_settings.py)."""

from __future__ import annotations

import os
from typing import Any

from joblane.settings import func


async def send_invoice_email(ctx: dict[str, Any], invoice_id: int) -> dict[str, Any]:
    return {"invoice_id": invoice_id, "job_id": ctx["job_id"], "try": ctx["job_try"],
            "pid": os.getpid(), "client": ctx.get("client")}  # fmt: skip


def render_report(ctx: dict[str, Any], name: str) -> str:
    return f"report {name} for {ctx['job_id']}"


async def flaky_task(ctx: dict[str, Any], fail_until: int) -> int:
    if ctx["job_try"] < fail_until:
        raise RuntimeError(f"try {ctx['job_try']} fails")
    return int(ctx["job_try"])


async def warm_caches(ctx: dict[str, Any]) -> None:
    ctx["client"] = f"client of {os.getpid()}"


async def drain_in_flight(ctx: dict[str, Any]) -> None:
    path = os.environ.get("ARQSTYLE_SHUTDOWN_FILE")
    if path:
        with open(path, "a") as out:
            out.write(f"{os.getpid()}\n")


class WorkerSettings:
    functions = [send_invoice_email, func(render_report, name="report", timeout=30)]
    max_jobs = 10
    job_timeout = 60
    max_tries = 3
    on_startup = warm_caches
    on_shutdown = drain_in_flight
