"""``joblane worker``: run a worker in the foreground."""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from joblane.cli.common import finite, open_backend, seconds
from joblane.config import env_list, max_result
from joblane.core.outcome import DEFAULT_MAX_LOST
from joblane.core.queues import DEFAULT_QUEUES, parse_queue_list
from joblane.errors import WorkerStartupError
from joblane.schedules import Schedule
from joblane.settings import load as load_settings
from joblane.tasks import AllowPolicy
from joblane.worker.worker import DEFAULT_GRACE, DEFAULT_LEASE_SECONDS, Worker

MAX_PREFETCH = 10_000
"""Jobs a worker may claim beyond its free slots."""


def import_modules(modules: list[str]) -> None:
    """Import the application's job modules (the current directory is importable)."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as error:
            raise click.ClickException(
                f"cannot import {module!r}: {type(error).__name__}: {error}"
            ) from None


def load_hook(spec: str, option: str = "--identity") -> Callable[..., Any]:
    """The callable named ``package.module:name`` (after the --import modules)."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise click.BadParameter(f"{spec!r} is not of the form package.module:name",
                                 param_hint=option)  # fmt: skip
    try:
        hook = getattr(importlib.import_module(module_name), attr)
    except Exception as error:
        raise click.BadParameter(f"cannot load {spec!r}: {type(error).__name__}: {error}",
                                 param_hint=option) from None  # fmt: skip
    if not callable(hook):
        raise click.BadParameter(f"{spec!r} is not callable", param_hint=option)
    return hook  # type: ignore[no-any-return]


def load_schedules(spec: str) -> list[Schedule]:
    """The schedules named ``package.module:name`` (a Schedule or a list of them)."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise click.BadParameter(f"{spec!r} is not of the form package.module:name",
                                 param_hint="--schedules")  # fmt: skip
    try:
        value = getattr(importlib.import_module(module_name), attr)
    except Exception as error:
        raise click.BadParameter(f"cannot load {spec!r}: {type(error).__name__}: {error}",
                                 param_hint="--schedules") from None  # fmt: skip
    found = [value] if isinstance(value, Schedule) else value
    if not isinstance(found, list | tuple) or not all(isinstance(s, Schedule) for s in found):
        raise click.BadParameter(
            f"{spec!r} is not a Schedule or a list of them (made by joblane.cron(...))",
            param_hint="--schedules",
        )
    return list(found)


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@click.command()
@click.option(
    "-q",
    "--queues",
    default=",".join(DEFAULT_QUEUES),
    show_default=True,
    help="Queues to serve, highest priority first, comma-separated.",
)
@click.option(
    "-c",
    "--concurrency",
    type=click.IntRange(min=1),
    default=None,
    help="Jobs run at once, each in its own slot process [default: CPUs, min 2].",
)
@click.option(
    "-i",
    "--import",
    "imports",
    multiple=True,
    metavar="MODULE",
    help="Import MODULE at start (its @job functions become allowed). "
    "Repeatable; env JOBLANE_IMPORTS.",
)
@click.option(
    "--allow",
    multiple=True,
    metavar="PREFIX",
    help="Also allow every function under this module prefix. Repeatable; env JOBLANE_ALLOW.",
)
@click.option(
    "--settings",
    "settings_spec",
    default=None,
    metavar="MODULE:NAME",
    help="Worker settings in arq's style (a class or module listing functions, cron_jobs, "
    "max_jobs, job_timeout, max_tries, on_startup...); options given here win. "
    "Env JOBLANE_SETTINGS.",
)
@click.option("--burst", is_flag=True, help="Drain the queues, then exit.")
@click.option(
    "--without-scheduler", is_flag=True, help="Do not move due scheduled jobs to their queues."
)
@click.option("--name", default=None, help="Worker name [default: host.pid.random].")
@click.option(
    "--lease",
    type=seconds(1.0),
    callback=finite,
    default=DEFAULT_LEASE_SECONDS,
    show_default=True,
    help="Lease of a started job, in seconds.",
)
@click.option(
    "--grace",
    type=seconds(0.0),
    callback=finite,
    default=DEFAULT_GRACE,
    show_default=True,
    help="Seconds running jobs get to finish on SIGTERM.",
)
@click.option(
    "--prefetch",
    type=click.IntRange(min=0, max=MAX_PREFETCH),
    default=0,
    show_default=True,
    help="Jobs claimed ahead of free slots (throughput over strict priority).",
)
@click.option(
    "--max-lost",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_LOST,
    show_default=True,
    help="A job whose process dies under it (kill -9, out of memory, crash) runs again, "
    "first in its queue, until it was lost this many times; then it fails.",
)
@click.option(
    "--identity",
    "identity_hook",
    default=None,
    metavar="MODULE:NAME",
    help="Restore hook: called with each job's enqueuer (joblane.identity.Identity), returns "
    "the context manager the job runs in, as that user. Without it a job enqueued by a user "
    "fails; joblane.identity:ignore runs such jobs without their user. Env JOBLANE_IDENTITY.",
)
@click.option(
    "--on-success",
    default=None,
    metavar="MODULE:NAME",
    help="Called as NAME(job, outcome) in the worker process when a job succeeds.",
)
@click.option(
    "--on-failure",
    default=None,
    metavar="MODULE:NAME",
    help="Called as NAME(job, outcome) in the worker process when an attempt fails "
    "(job.status says whether it is retried). A callback that raises is logged.",
)
@click.option(
    "--schedules",
    "schedule_specs",
    multiple=True,
    metavar="MODULE:NAME",
    help="A list of cron schedules (joblane.cron(...)) whose ticks this worker enqueues, each "
    "once however many workers run it. Repeatable.",
)
@click.option(
    "--jobs-per-slot",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Jobs each slot process runs at once on its event loop (coroutine jobs; plain "
    "functions on the slot's threads): capacity is concurrency x this (arq's max_jobs).",
)
@click.option(
    "--on-startup",
    default=None,
    metavar="MODULE:NAME",
    help="Called as NAME(ctx) once in each slot process before it takes jobs (sync or "
    "async); what it puts in ctx (a pool, a client) every job of that slot sees. If it "
    "raises, the worker exits with status 1 naming it.",
)
@click.option(
    "--on-shutdown",
    default=None,
    metavar="MODULE:NAME",
    help="Called as NAME(ctx) in each slot process when the worker exits normally.",
)
@click.option(
    "--on-job-start",
    default=None,
    metavar="MODULE:NAME",
    help="Called as NAME(ctx) in the slot before each job, with that job's ctx.",
)
@click.option(
    "--on-job-end",
    default=None,
    metavar="MODULE:NAME",
    help="Called as NAME(ctx) in the slot after each job, with that job's ctx.",
)
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
)
@click.pass_context
def worker(
    ctx: click.Context, queues: str, concurrency: int | None, imports: tuple[str, ...],
    allow: tuple[str, ...], settings_spec: str | None, burst: bool, without_scheduler: bool,
    name: str | None,
    lease: float, grace: float, prefetch: int, max_lost: int, identity_hook: str | None,
    on_success: str | None, on_failure: str | None, schedule_specs: tuple[str, ...],
    jobs_per_slot: int, on_startup: str | None, on_shutdown: str | None,
    on_job_start: str | None, on_job_end: str | None, log_level: str,
) -> None:  # fmt: skip
    """Run jobs from the queues until stopped (SIGTERM/Ctrl+C: graceful; twice: at once)."""
    queue_names = parse_queue_list(queues)
    max_result()  # a bad JOBLANE_MAX_RESULT stops the worker now, not each job later
    configure_logging(log_level)
    import_modules(list(imports) + env_list("JOBLANE_IMPORTS"))
    spec = settings_spec or os.environ.get("JOBLANE_SETTINGS")
    options: dict[str, Any] = {}
    if spec:
        loaded = load_settings(spec)
        options = loaded.worker_options()
        if loaded.queues and _default(ctx, "queues"):
            queue_names = loaded.queues
        allow = allow + loaded.allow
        logging.getLogger("joblane.worker").info(
            "settings %s: tasks %s", loaded.source, ", ".join(loaded.tasks) or "none"
        )
    if not _default(ctx, "concurrency"):
        options["concurrency"] = concurrency
    if not _default(ctx, "burst") or "burst" not in options:
        options["burst"] = burst
    policy = AllowPolicy.from_prefixes(list(allow) + env_list("JOBLANE_ALLOW"))
    identity_spec = identity_hook or os.environ.get("JOBLANE_IDENTITY")
    # Loaded here, before the slots are forked: each slot inherits it.
    restore = load_hook(identity_spec) if identity_spec else None
    succeeded = load_hook(on_success, "--on-success") if on_success else None
    failed = load_hook(on_failure, "--on-failure") if on_failure else None
    options.update(
        (name, load_hook(spec, "--" + name.replace("_", "-")))
        for name, spec in (("on_startup", on_startup), ("on_shutdown", on_shutdown),
                           ("on_job_start", on_job_start), ("on_job_end", on_job_end))
        if spec
    )  # fmt: skip
    if not _default(ctx, "jobs_per_slot") or "jobs_per_slot" not in options:
        options["jobs_per_slot"] = jobs_per_slot
    schedules = list(options.pop("schedules", ()))
    schedules += [s for spec in schedule_specs for s in load_schedules(spec)]
    backend = open_backend(ctx)
    try:
        Worker(
            backend, queue_names, allow=policy, name=name,
            with_scheduler=not without_scheduler, lease_seconds=lease,
            grace=grace, prefetch=prefetch, max_lost=max_lost, identity=restore,
            on_success=succeeded, on_failure=failed, schedules=schedules, **options,
        ).run()  # fmt: skip
    except WorkerStartupError as error:
        raise click.ClickException(str(error)) from None


def _default(ctx: click.Context, param: str) -> bool:
    """*param* was not given on the command line (nor by its environment variable)."""
    source = ctx.get_parameter_source(param)
    return source is None or source == click.core.ParameterSource.DEFAULT
