"""Bringing a SQLite file of an earlier schema version to the current one.

``migrations.sql`` holds one block per version: ``to_N`` brings a file of
version N - 1 to version N, in one or more statements. Each block runs in its
own ``BEGIN IMMEDIATE`` transaction together with the ``PRAGMA user_version =
N`` that records it, so a migration is applied once or not at all: one
interrupted midway (a crash, a kill, a full disk) leaves the file at its old
version, and running the migrations again (another ``joblane migrate``, two
at once) finds the steps already done and skips them. Producers and workers
refuse a file of an older version (SchemaVersionError) rather than migrate it
themselves, so that a deploy upgrades the file once, on purpose, before the
new code runs on it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator, Mapping

from joblane.backends.sqlite import parse_url
from joblane.backends.sqlite.backend import DEFAULT_BUSY_TIMEOUT
from joblane.backends.sqlite.database import schema_version
from joblane.backends.sqlite.queries import MIGRATIONS, SCHEMA_VERSION
from joblane.config import redact_url
from joblane.errors import BackendError, ConfigurationError, SchemaVersionError


def migrate_url(url: str, *, apply: bool = True) -> list[str]:
    """Migrate the file of the SQLite *url* (*apply*) or only say what a migration
    would do: one line per step, none when the file is up to date or does not
    exist yet (a new file gets the current schema)."""
    path, options = parse_url(url)
    try:
        busy_timeout = float(options.get("busy_timeout", DEFAULT_BUSY_TIMEOUT))
    except ValueError:
        raise ConfigurationError(
            f"busy_timeout must be a number of seconds in {redact_url(url)!r}"
        ) from None
    if not path.exists():
        return []
    return migrate_file(str(path), apply=apply, busy_timeout=busy_timeout)


def migrate_file(
    path: str,
    *,
    apply: bool = True,
    busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    migrations: Mapping[int, str] = MIGRATIONS,
    target: int = SCHEMA_VERSION,
) -> list[str]:
    """Run the migrations of the file at *path* up to *target*, each in its own
    transaction; the steps done (or, without *apply*, to do). BackendError if
    a step fails: the steps before it stay done, that one is rolled back."""
    with _connect(path, busy_timeout) as sqlite:
        version = _version(sqlite, path, target)
        if version == 0:
            return []  # a new file: its first open creates the current schema
        if not apply:
            return [_step(path, step) for step in range(version + 1, target + 1)]
        done = []
        for step in range(version + 1, target + 1):
            if _run(sqlite, path, step, migrations[step]):
                done.append(_step(path, step))
        return done


def _run(sqlite: sqlite3.Connection, path: str, step: int, statement: str) -> bool:
    """Bring the file from version *step* - 1 to *step*, unless another process
    did; whether this call did."""
    try:
        sqlite.execute("BEGIN IMMEDIATE")
        try:
            if schema_version(sqlite) != step - 1:
                sqlite.execute("ROLLBACK")
                return False
            for part in statements(statement):
                sqlite.execute(part)
            sqlite.execute(f"PRAGMA user_version = {step}")
            sqlite.execute("COMMIT")
        except BaseException:
            if sqlite.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    sqlite.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        raise BackendError(
            f"the migration of the SQLite database {path} to schema version {step} failed, "
            f"and was rolled back (the file stays at version {step - 1}): {exc}"
        ) from exc
    return True


def statements(text: str) -> list[str]:
    """The statements of a migration block, in order: a block may hold several
    (a table and the rows that fill it). The text is cut where SQLite sees a
    complete statement, not at every semicolon (one in a string literal)."""
    found: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            found.append(current.strip())
            current = ""
    if current.strip():
        found.append(current.strip())  # the loader strips the block's last semicolon
    return found


def _version(sqlite: sqlite3.Connection, path: str, target: int) -> int:
    try:
        version = schema_version(sqlite)
    except sqlite3.Error as exc:
        raise BackendError(f"cannot read the SQLite database {path}: {exc}") from exc
    if version > target:
        raise SchemaVersionError(f"the SQLite database {path}", version, target)
    return version


def _step(path: str, version: int) -> str:
    return f"SQLite database {path}: schema version {version - 1} -> {version}"


@contextlib.contextmanager
def _connect(path: str, busy_timeout: float) -> Iterator[sqlite3.Connection]:
    if not os.path.exists(path):
        raise BackendError(f"no SQLite database at {path}")
    try:
        sqlite = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
    except sqlite3.Error as exc:
        raise BackendError(f"cannot open the SQLite database {path}: {exc}") from exc
    try:
        yield sqlite
    finally:
        sqlite.close()
