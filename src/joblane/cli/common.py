"""The root command group and what every command shares."""

from __future__ import annotations

import math

import click

from joblane.backends.base import Backend
from joblane.config import backend_from_url, resolve_url
from joblane.core.limits import MAX_DURATION
from joblane.core.queues import DEFAULT_QUEUES, validate_queue_name


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--url",
    envvar="JOBLANE_URL",
    default=None,
    help="Backend URL (env JOBLANE_URL; default sqlite:///joblane.db).",
)
@click.version_option(package_name="joblane")
@click.pass_context
def cli(ctx: click.Context, url: str | None) -> None:
    """joblane: background jobs with priority queues, retries and a worker
    that never loses a job."""
    ctx.obj = resolve_url(url)


def open_backend(ctx: click.Context) -> Backend:
    url = ctx.find_root().obj
    backend = backend_from_url(url)
    ctx.call_on_close(backend.close)
    return backend


def known_queue(backend: Backend, name: str) -> str:
    """*name* if it is a default tier or a queue the backend holds jobs of."""
    validate_queue_name(name)
    if name not in DEFAULT_QUEUES and name not in backend.queue_names():
        raise click.ClickException(
            f"unknown queue {name!r}: it is not a default tier and holds no jobs "
            f"(queues: {', '.join(all_queues(backend))})"
        )
    return name


def all_queues(backend: Backend) -> list[str]:
    """The default tiers in priority order, then every other queue by name."""
    names = backend.queue_names()
    return list(DEFAULT_QUEUES) + [q for q in names if q not in DEFAULT_QUEUES]


def seconds(minimum: float) -> click.FloatRange:
    """Seconds from *minimum* to MAX_DURATION (10 years); give ``callback=finite``
    too, since a FloatRange lets ``nan`` through (no comparison excludes it)."""
    return click.FloatRange(min=minimum, max=MAX_DURATION)


def finite(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a number of seconds", ctx, param)
    return value
