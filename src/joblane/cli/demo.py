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
from joblane.config import redact_url
from joblane.core.states import ENDED_STATUSES
from joblane.worker.slots import die_with_parent


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
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=8080,
    show_default=True,
    help="Port of the monitoring API.",
)
@click.option("--no-api", is_flag=True, help="Run the worker only, not the monitoring API.")
@click.option("--exit-when-done", is_flag=True, help="Stop once every demo job has ended.")
@click.option(
    "--timeout",
    type=float,
    default=60.0,
    show_default=True,
    help="With --exit-when-done: give up after this many seconds.",
)
@click.pass_context
def demo(ctx: click.Context, port: int, no_api: bool, exit_when_done: bool, timeout: float) -> None:
    """Enqueue demo jobs on every tier (one scheduled, one that fails and
    retries, one that fails for good), run a worker on them, with a cron
    schedule (every minute), and serve the monitoring API with a token made
    for this run."""
    url = ctx.find_root().obj
    enqueued = enqueue_demo_jobs(ctx)
    click.echo(f"Enqueued {len(enqueued)} demo jobs on {redact_url(url)}:")
    for job in enqueued:
        click.echo(f"  {job.queue:<10} {job.status:<10} {job.id}  {job.description}")
    env = dict(os.environ, JOBLANE_URL=url)
    worker = ["worker", "--import", "joblane.demo", "--concurrency", "2", "--queues",
              "important,normal,low,cron", "--schedules", "joblane.demo:SCHEDULES"]  # fmt: skip
    children = [_start(worker, env)]
    if not no_api:
        children.append(
            _start(["serve", "--port", str(port), "--generate-credentials",
                    "--log-level", "warning"], env)
        )  # fmt: skip
    api = None if no_api else f"http://127.0.0.1:{port}/@rq-queues"
    try:
        _watch(enqueued, timeout if exit_when_done else None)
        _check_alive(children, port)
        _where_to_look(url, enqueued, api)
        if not exit_when_done:
            click.echo("\nThe worker and the API keep serving; press Ctrl+C to stop them.")
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
            _check_alive(children, port)
    except KeyboardInterrupt:
        pass
    finally:
        _stop(children)


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A ``joblane`` child in a process group of its own, so that a terminal's
    Ctrl+C reaches the demo alone, which stops its children once (gracefully);
    it dies with the demo if the demo is killed."""
    parent = os.getpid()
    return subprocess.Popen(
        [sys.executable, "-m", "joblane", *args], env=env, process_group=0,
        preexec_fn=lambda: die_with_parent(parent),
    )  # fmt: skip


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each child (a graceful stop), and wait; another Ctrl+C meanwhile
    sends a second SIGTERM (a stop at once), as for ``joblane worker``."""
    signals = 0
    while True:
        signals += 1
        for child in children:
            if child.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    child.send_signal(signal.SIGTERM)
        try:
            for child in children:
                child.wait(timeout=40)
            return
        except KeyboardInterrupt:
            if signals > 1:
                raise
            click.echo("Stopping at once.", err=True)


def _watch(enqueued: list[Job], timeout: float | None) -> None:
    """Report each demo job as it ends; return when all have (or raise after *timeout*)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    reported: set[str] = set()
    while len(reported) < len(enqueued):
        for job in enqueued:
            job.refresh()
            if job.status in ENDED_STATUSES and job.id not in reported:
                reported.add(job.id)
                if job.is_finished:
                    shown = repr(job.return_value)
                else:
                    lines = (job.last_job_result or "").strip().splitlines()
                    shown = lines[-1] if lines else ""
                click.echo(f"-> {job.status:<9} {job.func_name}: {shown}")
        if deadline is not None and time.monotonic() > deadline:
            raise click.ClickException(f"demo jobs still running after {timeout:g} s")
        enqueued[0].backend.wait_for_change(0.5)
    click.echo("All demo jobs ended.")


def _check_alive(children: list[subprocess.Popen[bytes]], port: int) -> None:
    names = ["worker", f"monitoring API (port {port})"]
    for name, child in zip(names, children, strict=False):
        if child.poll() is not None:
            raise click.ClickException(
                f"the demo's {name} stopped with exit status {child.returncode}"
            )


def _where_to_look(url: str, enqueued: list[Job], api: str | None) -> None:
    url = redact_url(url)  # never a password on the screen; whoever needs it has it
    click.echo("\nWhere to look:")
    click.echo(f"  joblane --url {url} info")
    click.echo(f"  joblane --url {url} job {enqueued[-1].id}")
    click.echo(f"  joblane --url {url} requeue --all --queue normal")
    if api:
        click.echo(f"  {api}  (with the token or user printed above)")
        click.echo(f"  {api.removesuffix('/@rq-queues')}/@rq-schedules  (the cron schedule)")
