"""``joblane enqueue``, ``requeue`` and ``empty``: commands that change jobs."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from joblane.cli.common import known_queue, open_backend
from joblane.client import Job, Queue
from joblane.core.queues import DEFAULT_QUEUE, validate_job_id
from joblane.core.retry import Retry
from joblane.core.states import Registry

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_in(text: str) -> datetime:
    """``90``, ``90s``, ``5m``, ``2h``, ``1d`` from now → an aware UTC datetime."""
    match = _DURATION.fullmatch(text.strip())
    if not match:
        raise click.BadParameter(f"{text!r} is not a duration such as 30s, 5m, 2h or 1d")
    try:
        return datetime.now(UTC) + timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    except OverflowError:
        raise click.BadParameter(f"--in {text!r} is too far in the future") from None


def parse_when(text: str) -> datetime:
    """An ISO 8601 time; without an offset it is UTC."""
    try:
        when = datetime.fromisoformat(text)
        return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not an ISO 8601 time such as 2026-06-03T08:00:00"
        ) from None
    except OverflowError:
        raise click.BadParameter(f"{text!r} is out of the range of UTC times") from None


def parse_json(text: str, what: str) -> Any:
    """A JSON value, as the stdlib reads it: big integers stay integers (and are
    then refused by the serializer, as in the Python API), not floats. NaN,
    Infinity and numbers out of a float's range (1e400) are refused: JSON has
    none of them, and the job would receive None."""

    def finite(number: str) -> float:
        value = float(number)
        if not math.isfinite(value):
            raise click.BadParameter(f"{what}: {number} is out of the range of a float")
        return value

    def constant(name: str) -> Any:
        raise click.BadParameter(f"{what}: {name} is not JSON (JSON has no NaN or Infinity)")

    try:
        return json.loads(text, parse_float=finite, parse_constant=constant)
    except ValueError as error:
        raise click.BadParameter(
            f"{what} is not valid JSON ({error}); quote strings, e.g. '\"hello\"'"
        ) from None
    except RecursionError:
        raise click.BadParameter(f"{what} is nested too deeply") from None


@click.command()
@click.argument("function")
@click.argument("args", nargs=-1)
@click.option(
    "--kwargs",
    "kwargs_json",
    default=None,
    metavar="JSON",
    help="Keyword arguments as a JSON object.",
)
@click.option("-q", "--queue", default=DEFAULT_QUEUE, show_default=True)
@click.option(
    "--in", "delay", default=None, metavar="DURATION", help="Run after a delay: 30s, 5m, 2h, 1d."
)
@click.option(
    "--at",
    "when",
    default=None,
    metavar="TIME",
    help="Run at an ISO 8601 time (UTC unless it has an offset).",
)
@click.option("--job-id", default=None)
@click.option(
    "--retry", "retries", type=click.IntRange(min=0), default=None, help="Retries after a failure."
)
@click.option(
    "--retry-interval",
    type=click.FloatRange(min=0),
    default=None,
    help="Seconds between retries [default: 0].",
)
@click.option(
    "--timeout",
    "job_timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="job_timeout in seconds [default: 180].",
)
@click.pass_context
def enqueue(
    ctx: click.Context, function: str, args: tuple[str, ...], kwargs_json: str | None,
    queue: str, delay: str | None, when: str | None, job_id: str | None,
    retries: int | None, retry_interval: float | None, job_timeout: float | None,
) -> None:  # fmt: skip
    """Enqueue FUNCTION (a dotted path, or a task name) with ARGS, each a JSON value. Prints the
    job id."""
    if delay is not None and when is not None:
        raise click.UsageError("give --in or --at, not both")
    values = [parse_json(arg, f"argument {i + 1}") for i, arg in enumerate(args)]
    kwargs = parse_json(kwargs_json, "--kwargs") if kwargs_json is not None else {}
    if not isinstance(kwargs, dict):
        raise click.BadParameter("--kwargs must be a JSON object")
    if retry_interval is not None and retries is None:
        raise click.UsageError("--retry-interval needs --retry")
    for name, seconds in (("--timeout", job_timeout), ("--retry-interval", retry_interval)):
        if seconds is not None and not math.isfinite(seconds):
            raise click.BadParameter(f"{name} must be a finite number of seconds, not {seconds}")
    options: dict[str, Any] = {}
    if job_id is not None:
        options["job_id"] = job_id
    if retries is not None:
        options["retry"] = Retry(max=retries, interval=retry_interval or 0)
    if job_timeout is not None:
        options["job_timeout"] = job_timeout
    target = Queue(queue, backend=open_backend(ctx))
    at = parse_when(when) if when is not None else None
    if delay is not None:
        at = parse_in(delay)
    job = target.enqueue_call(function, values, kwargs, at=at, **options)
    click.echo(job.id)


@click.command()
@click.argument("job_id", required=False)
@click.option("--all", "all_failed", is_flag=True, help="Requeue every failed job of --queue.")
@click.option("-q", "--queue", default=None, help="The queue for --all.")
@click.pass_context
def requeue(ctx: click.Context, job_id: str | None, all_failed: bool, queue: str | None) -> None:
    """Put one failed, canceled or stopped job, or all failed jobs of a queue, back on
    its queue."""
    if bool(job_id) == all_failed:
        raise click.UsageError("give a JOB_ID, or --all with --queue")
    if job_id and queue:
        raise click.UsageError("--queue goes with --all, not with a JOB_ID")
    backend = open_backend(ctx)
    if job_id:
        job = Job.fetch(validate_job_id(job_id), backend=backend).requeue()
        click.echo(f"requeued {job.id} on {job.queue}")
        return
    if not queue:
        raise click.UsageError("--all needs --queue")
    name = known_queue(backend, queue)
    count = 0
    while batch := backend.list_registry(name, Registry.FAILED, 0, 500):
        for record in batch:
            backend.requeue(record.id, backend.now())
            count += 1
    click.echo(f"requeued {count} failed job(s) on {name}")


@click.command()
@click.argument("queue")
@click.pass_context
def empty(ctx: click.Context, queue: str) -> None:
    """Delete every job waiting in QUEUE."""
    backend = open_backend(ctx)
    name = known_queue(backend, queue)
    click.echo(f"deleted {backend.empty(name)} job(s) from {name}")
