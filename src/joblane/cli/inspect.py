"""``joblane info`` and ``joblane job``: read-only commands."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import click
import orjson
from rich.console import Console
from rich.table import Table

from joblane.backends.base import ScheduleInfo
from joblane.cli.common import all_queues, open_backend
from joblane.client import Job
from joblane.config import redact_url
from joblane.core.clock import isoformat
from joblane.core.queues import validate_job_id
from joblane.core.states import Registry

_COLUMNS = (
    ("started", Registry.STARTED),
    ("deferred", Registry.DEFERRED),
    ("scheduled", Registry.SCHEDULED),
    ("finished", Registry.FINISHED),
    ("failed", Registry.FAILED),
    ("canceled", Registry.CANCELED),
)


@click.command()
@click.pass_context
def info(ctx: click.Context) -> None:
    """Queues with their counts and registries, live workers, and the cron
    schedules they run (with their next run, UTC)."""
    backend = open_backend(ctx)
    queues = Table(title=f"Queues ({redact_url(backend.url)})")
    queues.add_column("queue")
    queues.add_column("queued", justify="right")
    for title, _ in _COLUMNS:
        queues.add_column(title, justify="right")
    for name in all_queues(backend):
        counts = [str(backend.registry_count(name, reg)) for _, reg in _COLUMNS]
        queues.add_row(name, str(backend.count(name)), *counts)
    workers = Table(title="Workers")
    for column in ("name", "state", "queues", "slots", "pid", "heartbeat", "jobs"):
        workers.add_column(column)
    with _warnings_on_stderr():
        live = backend.workers()  # skips (and warns of) a registration that does not decode
    for w in live:
        workers.add_row(
            w.name, w.state, ",".join(w.queues), str(w.concurrency), str(w.pid),
            isoformat(w.heartbeat) or "", " ".join(w.current_jobs),
        )  # fmt: skip
    console = Console(width=140)
    console.print(queues)
    if live:
        console.print(workers)
    else:
        console.print("No live workers.")
    with _warnings_on_stderr():
        schedules = backend.schedules()
    if schedules:
        console.print(_schedule_table(schedules))


def _schedule_table(schedules: list[ScheduleInfo]) -> Table:
    table = Table(title="Schedules (times UTC)")
    for column in ("name", "spec", "timezone", "queue", "next run", "last tick", "missed",
                   "worker"):  # fmt: skip
        table.add_column(column)
    for s in schedules:
        table.add_row(
            s.name, s.spec, s.timezone, s.queue, isoformat(s.next_run) or "-",
            isoformat(s.last_tick) or "-", s.missed, s.worker,
        )  # fmt: skip
    return table


class _EchoHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        click.echo(self.format(record), err=True)


@contextlib.contextmanager
def _warnings_on_stderr() -> Iterator[None]:
    """Show the backend's warnings as ``Warning: ...`` lines on stderr, whatever
    the logging configuration."""
    handler = _EchoHandler(logging.WARNING)
    handler.setFormatter(logging.Formatter("Warning: %(message)s"))
    logger = logging.getLogger("joblane.backends")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


@click.command("job")
@click.argument("job_id")
@click.pass_context
def job_command(ctx: click.Context, job_id: str) -> None:
    """Show the job JOB_ID as JSON."""
    job = Job.fetch(validate_job_id(job_id), backend=open_backend(ctx))
    click.echo(orjson.dumps(job.to_dict(), option=orjson.OPT_INDENT_2).decode())
