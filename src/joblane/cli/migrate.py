"""``joblane migrate``: bring the backend's stored data to this joblane's version."""

from __future__ import annotations

import click

from joblane.config import redact_url
from joblane.migrate import migrate as migrate_backend


@click.command()
@click.option(
    "--check",
    is_flag=True,
    help="Change nothing: list the steps needed and exit 1 if there are any, 0 if none.",
)
@click.pass_context
def migrate(ctx: click.Context, check: bool) -> None:
    """Migrate the SQLite or PostgreSQL schema, or the Redis key layout, to this version of joblane.

    Run it once after upgrading joblane, before starting the new workers and
    producers (they refuse data of an older version). Each step is atomic and
    idempotent: running it twice, or after an interrupted run, is safe."""
    url = ctx.find_root().obj
    steps = migrate_backend(url, apply=not check)
    shown = redact_url(url)
    if not steps:
        click.echo(f"{shown} is up to date: nothing to migrate")
        return
    for step in steps:
        click.echo(f"{'needed' if check else 'migrated'}: {step}")
    if check:
        raise click.ClickException(
            f"{shown} needs a migration: run 'joblane migrate' to apply {len(steps)} step(s)"
        )
