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


class Seconds(click.ParamType):
    """A finite number of seconds from *minimum* to MAX_DURATION (10 years):
    click's FloatRange takes ``nan`` (no comparison excludes it) and ``inf``."""

    name = "seconds"

    def __init__(self, minimum: float) -> None:
        self.minimum = minimum

    def convert(self, value: object, param: click.Parameter | None,
                ctx: click.Context | None) -> float:  # fmt: skip
        try:
            seconds = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(seconds) or not self.minimum <= seconds <= MAX_DURATION:
            self.fail(
                f"{value!r} is not a number of seconds from {self.minimum:g} to "
                f"{MAX_DURATION} (10 years)",
                param,
                ctx,
            )
        return seconds
