"""The SQL of the PostgreSQL backend, loaded once from ``schema.sql``,
``queries.sql`` and ``migrations.sql`` by the shared loader
(:mod:`joblane.backends.sql.loader`).

The text is ``LiteralString`` with a ``{schema}`` placeholder; :func:`for_schema`
fills it with the backend's schema as a quoted identifier (psycopg's
``sql.Identifier``), once per backend object, and keeps each statement as the
bytes psycopg sends. No other SQL is built at run time: every value is bound.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import LiteralString

from psycopg import sql

from joblane.backends.sql.loader import load, typed
from joblane.errors import ConfigurationError

DEFAULT_SCHEMA = "joblane"
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _load(filename: str) -> dict[str, LiteralString]:
    statements, _ = load(__package__ or "joblane.backends.postgres", filename)
    return statements


@dataclass(frozen=True, slots=True)
class Queries:
    """Every statement of queries.sql, by name (see the file for what each does)."""

    insert_jobs: LiteralString
    insert_job: LiteralString
    insert_new_job: LiteralString
    insert_new_jobs: LiteralString
    claim: LiteralString
    reclaim: LiteralString
    settle: LiteralString
    settle_linked: LiteralString
    pop_dependents: LiteralString
    link_dependencies: LiteralString
    forget_links: LiteralString
    deferred_job: LiteralString
    release_dependent: LiteralString
    cancel_deferred: LiteralString
    renew: LiteralString
    expired_leases: LiteralString
    due_jobs: LiteralString
    promote: LiteralString
    next_due: LiteralString
    purge_expired: LiteralString
    lock_job: LiteralString
    cancel_job: LiteralString
    request_cancel: LiteralString
    requeue: LiteralString
    delete_job: LiteralString
    empty_queue: LiteralString
    save_meta: LiteralString
    get_job: LiteralString
    get_jobs: LiteralString
    lock_jobs: LiteralString
    job_statuses: LiteralString
    stored_jobs: LiteralString
    delete_replaced: LiteralString
    queue_names: LiteralString
    count_queued: LiteralString
    list_queued: LiteralString
    list_queued_from_end: LiteralString
    count_registry: LiteralString
    list_registry: LiteralString
    list_registry_from_end: LiteralString
    register_worker: LiteralString
    unregister_worker: LiteralString
    live_workers: LiteralString
    register_schedules: LiteralString
    claim_tick: LiteralString
    live_schedules: LiteralString
    schema_version: LiteralString
    set_schema_version: LiteralString
    first_schema_version: LiteralString
    lock_schema: LiteralString
    notify: LiteralString
    clock: LiteralString


TEXT = typed(Queries, _load("queries.sql"), "queries.sql")
SCHEMA_TEXT = tuple(_load("schema.sql").values())
MIGRATIONS_TEXT = {
    int(name.removeprefix("to_")): text for name, text in _load("migrations.sql").items()
}
SCHEMA_VERSION = max(MIGRATIONS_TEXT, default=1)
"""The row of ``schema_version``; a schema with a higher one is refused."""


@dataclass(frozen=True, slots=True)
class SchemaSQL:
    """The statements of one schema, ready to send."""

    queries: Queries
    """Each statement as bytes (typed as queries.sql's text: psycopg takes both)."""
    create: tuple[bytes, ...]
    migrations: dict[int, bytes]


def check_schema_name(name: str) -> str:
    """*name* if it is a schema name joblane accepts (lower-case letters, digits
    and _, not starting with a digit, at most 63 characters), else
    ConfigurationError."""
    if not _SCHEMA_NAME.fullmatch(name):
        raise ConfigurationError(
            f"invalid PostgreSQL schema name {name!r}: use lower-case letters, digits and _ "
            "(not first), at most 63 characters"
        )
    return name


def _bytes(text: LiteralString, schema: str) -> bytes:
    return sql.SQL(text).format(schema=sql.Identifier(schema)).as_bytes(None)


@lru_cache(maxsize=32)
def for_schema(schema: str) -> SchemaSQL:
    """The statements with ``{schema}`` filled in."""
    check_schema_name(schema)
    filled = {f.name: _bytes(getattr(TEXT, f.name), schema) for f in dataclasses.fields(Queries)}
    return SchemaSQL(
        queries=Queries(**filled),  # type: ignore[arg-type]  # bytes, sent as they are
        create=tuple(_bytes(text, schema) for text in SCHEMA_TEXT),
        migrations={v: _bytes(text, schema) for v, text in MIGRATIONS_TEXT.items()},
    )
