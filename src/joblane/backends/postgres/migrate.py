"""Bringing a PostgreSQL schema of an earlier version to the current one.

``migrations.sql`` holds one block per version: ``to_N`` brings a schema of
version N - 1 to version N. Each runs in its own transaction, under the
schema's advisory lock, together with the update of ``schema_version`` that
records it, so a migration is applied once or not at all (PostgreSQL's DDL is
transactional): one interrupted midway leaves the schema at its old version,
and running the migrations again (another ``joblane migrate``, two at once)
finds the steps already done and skips them. Producers and workers refuse a
schema of an older version (SchemaVersionError) rather than migrate it.
"""

from __future__ import annotations

from collections.abc import Mapping

import psycopg

from joblane.backends.postgres import parse_url
from joblane.backends.postgres.database import Connection, read_version, said
from joblane.backends.postgres.queries import SCHEMA_VERSION, for_schema
from joblane.config import redact_url
from joblane.errors import BackendError, SchemaVersionError


def migrate_url(
    url: str,
    *,
    apply: bool = True,
    migrations: Mapping[int, bytes] | None = None,
    target: int = SCHEMA_VERSION,
) -> list[str]:
    """Migrate the schema of the PostgreSQL *url* (*apply*) or only say what a
    migration would do: one line per step, none when the schema is up to date
    or does not exist yet (its first use creates the current one). BackendError
    if a step fails: the steps before it stay done, that one is rolled back."""
    conninfo, options = parse_url(url)
    schema = str(options["schema"])
    statements = for_schema(schema)
    steps = statements.migrations if migrations is None else migrations
    shown = redact_url(url)
    timeout = max(1, round(float(str(options["connect_timeout"]))))
    try:
        conn = psycopg.connect(conninfo, autocommit=True, connect_timeout=timeout)
    except psycopg.Error as exc:
        raise BackendError(f"cannot connect to PostgreSQL at {shown}: {said(exc)}") from exc
    with conn:
        version = _version(conn, shown, schema, target)
        if version is None:
            return []
        if not apply:
            return [_step(shown, schema, step) for step in range(version + 1, target + 1)]
        done = []
        for step in range(version + 1, target + 1):
            if _run(conn, shown, schema, step, steps[step]):
                done.append(_step(shown, schema, step))
        return done


def _run(conn: Connection, shown: str, schema: str, step: int, statement: bytes) -> bool:
    """Bring the schema from version *step* - 1 to *step*, unless another process
    did; whether this call did."""
    q = for_schema(schema).queries
    try:
        with conn.transaction():
            conn.execute(q.lock_schema, {"schema": schema})
            if read_version(conn, for_schema(schema)) != step - 1:
                return False
            conn.execute(statement)
            conn.execute(q.set_schema_version, {"version": step})
    except psycopg.Error as exc:
        raise BackendError(
            f"the migration of the PostgreSQL schema {schema!r} at {shown} to version {step} "
            f"failed, and was rolled back (it stays at version {step - 1}): {said(exc)}"
        ) from exc
    return True


def _version(conn: Connection, shown: str, schema: str, target: int) -> int | None:
    try:
        version = read_version(conn, for_schema(schema))
    except psycopg.Error as exc:
        where = f"the PostgreSQL schema {schema!r} at {shown}"
        raise BackendError(f"cannot read {where}: {said(exc)}") from exc
    if version is not None and version > target:
        raise SchemaVersionError(f"the PostgreSQL schema {schema!r} at {shown}", version, target)
    return version


def _step(shown: str, schema: str, version: int) -> str:
    return f"PostgreSQL schema {schema!r} at {shown}: schema version {version - 1} -> {version}"
