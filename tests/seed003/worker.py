"""Seed 003's worker module: ``tasks = [...]``, then the full ``WorkerSettings``
with a cron job. Only the imports differ (``from arq import cron`` there)."""

from __future__ import annotations

import logging
import os
from typing import Any

from joblane import cron

logger = logging.getLogger(__name__)

LOG = os.environ.get("SEED003_LOG", "seed003.log")


def _append(line: str) -> None:
    with open(LOG, "a") as out:  # one write per line: appends from many processes interleave whole
        out.write(line + "\n")


async def send_invoice_email(ctx: dict[str, Any], invoice_id: int) -> None:
    logger.info("sending invoice %s (job %s)", invoice_id, ctx["job_id"])
    _append(f"invoice {invoice_id} {ctx['job_id']} {ctx['job_try']} {ctx['http']}")


async def cleanup_stale_invoices(ctx: dict[str, Any]) -> None:
    _append(f"tick {ctx['job_id']}")


async def warm_caches(ctx: dict[str, Any]) -> None:
    ctx["http"] = f"client-{os.getpid()}"


async def drain_in_flight(ctx: dict[str, Any]) -> None:
    _append(f"shutdown {os.getpid()}")


tasks = [send_invoice_email]


class WorkerSettings:
    functions = [send_invoice_email]
    cron_jobs = [
        cron(cleanup_stale_invoices, second=set(range(60))),  # every second (03:00 in the seed)
    ]
    max_jobs = 50
    job_timeout = 1800
    max_tries = 3
    on_startup = warm_caches
    on_shutdown = drain_in_flight
