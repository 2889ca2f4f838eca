"""``joblane demo``: enqueue demo jobs on every tier and run a worker on them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import click

from joblane.cli.common import open_backend
from joblane.client import Job, Queue
from joblane.core.states import ENDED_STATUSES


def enqueue_demo_jobs(ctx: click.Context) -> list[Job]:
    from joblane import demo as jobs  # only here: a worker must not allow these by default

    backend = open_backend(ctx)
    important, normal, low = (Queue(n, backend=backend) for n in ("important", "normal", "low"))
    return [
        important.enqueue(jobs.purge_cdn, "https://example.com/news/"),
        normal.enqueue(jobs.collect_stats, "example.com"),
        low.enqueue(jobs.compute_embedding, "Background jobs for web applications"),
        normal.enqueue(jobs.sync_content, "https://feeds.example.com/partners"),
        important.enqueue_in(timedelta(seconds=5), jobs.send_digest, ["editors@example.com"]),
        normal.enqueue(jobs.import_feed, "https://feeds.example.com/broken"),
    ]


@click.command()
@click.option("--exit-when-done", is_flag=True, help="Stop once every demo job has ended.")
@click.option(
    "--timeout",
    type=float,
    default=60.0,
    show_default=True,
    help="With --exit-when-done: give up after this many seconds.",
)
@click.pass_context
def demo(ctx: click.Context, exit_when_done: bool, timeout: float) -> None:
    """Enqueue demo jobs on every tier (one scheduled, one that fails and
    retries) and run a worker on them."""
    url = ctx.find_root().obj
    enqueued = enqueue_demo_jobs(ctx)
    click.echo(f"Enqueued {len(enqueued)} demo jobs on {url}:")
    for job in enqueued:
        click.echo(f"  {job.queue:<10} {job.status:<10} {job.id}  {job.description}")
    env = dict(os.environ, JOBLANE_URL=url)
    worker = subprocess.Popen(
        [sys.executable, "-m", "joblane", "worker", "--import", "joblane.demo",
         "--concurrency", "2"],
        env=env,
    )  # fmt: skip
    try:
        _watch(enqueued, exit_when_done, timeout)
    except KeyboardInterrupt:
        pass
    finally:
        with contextlib.suppress(ProcessLookupError):
            worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=40)
    _where_to_look(url, enqueued)


def _watch(enqueued: list[Job], exit_when_done: bool, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    reported: set[str] = set()
    while True:
        for job in enqueued:
            job.refresh()
            if job.status in ENDED_STATUSES and job.id not in reported:
                reported.add(job.id)
                shown = (
                    job.return_value
                    if job.is_finished
                    else ((job.last_job_result or "").strip().splitlines() or [""])[-1]
                )
                click.echo(f"-> {job.status:<9} {job.func_name}: {shown}")
        if len(reported) == len(enqueued):
            click.echo(
                "All demo jobs ended."
                + ("" if exit_when_done else " The worker keeps serving; press Ctrl+C to stop it.")
            )
            if exit_when_done:
                return
            while True:
                time.sleep(3600)
        if time.monotonic() > deadline and exit_when_done:
            raise click.ClickException(f"demo jobs still running after {timeout:g} s")
        enqueued[0].backend.wait_for_change(0.5)


def _where_to_look(url: str, enqueued: list[Job]) -> None:
    click.echo("\nWhere to look:")
    click.echo(f"  joblane --url {url} info")
    click.echo(f"  joblane --url {url} job {enqueued[-1].id}")
    click.echo(f"  joblane --url {url} requeue --all --queue normal")
