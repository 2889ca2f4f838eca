"""The ``joblane`` command: it parses arguments and calls the library.

One module per command group. Every error a user can cause ends as one line
on stderr and a non-zero exit status (2 for bad usage, 1 for a failed
operation), never a traceback.
"""

from __future__ import annotations

import sys

import click

from joblane.cli.check import check
from joblane.cli.common import cli
from joblane.cli.demo import demo
from joblane.cli.inspect import info, job_command
from joblane.cli.manage import empty, enqueue, requeue
from joblane.cli.migrate import migrate
from joblane.cli.serve import serve
from joblane.cli.worker import worker
from joblane.errors import InvalidJobError, JoblaneError, SerializationError

for command in (worker, enqueue, info, job_command, requeue, empty, serve, demo, migrate, check):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning every expected error into one line."""
    try:
        status = cli.main(args=argv, prog_name="joblane", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 1
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.UsageError as error:
        hint = f" (see 'joblane {error.ctx.info_name} --help')" if error.ctx else ""
        if error.ctx and error.ctx.parent is None:
            hint = " (see 'joblane --help')"
        click.echo(f"Error: {error.format_message()}{hint}", err=True)
        return 2
    except (InvalidJobError, SerializationError) as error:  # a bad argument value
        click.echo(f"Error: {error}", err=True)
        return 2
    except click.ClickException as error:
        click.echo(f"Error: {error.format_message()}", err=True)
        return error.exit_code
    except (JoblaneError, ValueError, TypeError, OSError, ArithmeticError, RecursionError) as error:
        click.echo(f"Error: {error}", err=True)
        return 1
    # ctx.exit(n) in a command (joblane check): click returns n without raising
    return status if isinstance(status, int) and not isinstance(status, bool) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
