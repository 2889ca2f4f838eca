"""The PostgreSQL backend: jobs in a schema of the app's own database, committed with its data.

::

    postgresql://app:secret@db.internal:5432/shop                  schema "joblane"
    postgresql://app@db/shop?schema=jobs_shop&pool_size=20
    postgres://app@pgbouncer:6432/shop?pgbouncer=1                 producers behind PgBouncer
    postgresql:///shop?host=/run/postgresql                         a unix socket

joblane's options in the query string: ``schema`` (default ``joblane``: lower-case
letters, digits, ``_``), where the tables are, so that several apps share one
database; ``pool_size`` (default 10), connections per backend object;
``retry_for`` (seconds, default 10), how long a call may take while the server
is unreachable; ``connect_timeout`` (seconds, default 5); ``pgbouncer=1``, no
prepared statements (PgBouncer in transaction pooling). Every other option is
libpq's (``sslmode``, ``host``, ``options``, ...) and passes through. Install
with ``pip install joblane[postgres]`` (psycopg 3 and psycopg_pool).

Layout: ``schema.sql``, ``queries.sql`` and ``migrations.sql`` hold every
statement (``queries.py`` loads them with the shared loader and fills in the
schema); ``database.py`` owns the pool, the retries and the schema check;
``records.py`` the row <-> record mapping; ``enqueue.py`` storing a batch (on
the backend's connection or the app's); ``transitions.py`` the changes of
several statements and what a settle statement returned; ``clock.py`` the
database's clock; ``watch.py`` LISTEN; ``aio.py`` the async producer calls
(:class:`~joblane.backends.base.AsyncBackendOps` through psycopg's
``AsyncConnection``, one per event loop); ``migrate.py`` ``joblane migrate``;
``backend.py`` is the :class:`PostgresBackend` facade.

The schema
----------
Created on first use (under an advisory lock, so that processes may race),
with its version in ``<schema>.schema_version``. A schema of an older version
is refused (SchemaVersionError) until ``joblane migrate`` brings it up to date
(``migrate.py``: one transaction per step). The user needs CREATE on the
database for the first use (or run ``joblane migrate`` once as its owner),
then only SELECT/INSERT/UPDATE/DELETE and the sequence.

Claim, settle, round trips
--------------------------
A claim is one ``UPDATE ... RETURNING`` statement: for each queue, in priority
order, an index scan of its queued jobs that locks them ``FOR UPDATE SKIP
LOCKED``; the first *limit* by (queue rank, position) become started under a
new lease (worker, token, lease expiry, start) in the same statement. So a job
is never held only in a worker's memory, and two workers never wait for each
other. Outcomes are settled as a batch: one statement over arrays (and a claim
that settles sends both statements in one pipeline), one commit. An enqueue of
any number of plain jobs is one INSERT over arrays, committed by itself.

Time and waiting
----------------
``now()`` is the database's clock: ``clock_timestamp()`` (the instant of the
read; ``now()`` would be the start of the reading transaction), measured at
start and every minute against the local monotonic clock, so that no call
pays a round trip for it. Every lease, due time and TTL of every process is
taken against that one clock. The values are passed to the statements as
bound parameters, like every decision. The triggers of ``jobs`` NOTIFY the
schema's channel when jobs are stored or change status, at the commit;
``wait_for_change`` LISTENs (see ``watch.py``), so an idle worker wakes at
once, and the scheduler sleeps until the next due time (``next_due``).

The app's transaction
---------------------
:meth:`PostgresBackend.enqueue_within` stores jobs through the app's own psycopg
connection, in its open transaction: they commit or roll back with the app's
rows, and the NOTIFY goes out at the commit. ``joblane.contrib.postgres.using``
makes every enqueue of a block do that.

Faults
------
Every call returns or raises within ``retry_for`` seconds: a connection lost
under an operation (a restart of the server, ``pg_terminate_backend``, a
failover) is replaced and the operation run again, with a growing pause.
Operations that must not simply run twice recognise their own earlier effect:
an enqueue looks for its job ids with their created time (found: it returns
them), a claim for its lease tokens (made by the client), settle and renew
apply only under the lease token. An enqueue that gives up after its
statement may have reached the server raises EnqueueOutcomeUnknownError;
enqueued again with the same ids through the same backend object, the jobs
are recognised and not stored twice. The listening session is reopened by the
next wait, which counts as a change.

PgBouncer
---------
Producers work through PgBouncer in transaction pooling with ``pgbouncer=1``
(no prepared statements; every transaction is complete in one call; no session
state is used). A worker needs a session of its own for LISTEN: connect
workers directly or through session pooling. ``joblane worker`` checks this at
start (:meth:`PostgresBackend.check_listen`) and stops with a clear error.

Bad data
--------
Columns are typed, so most bad values are refused when written; the JSON
columns (``meta``, ``retry_intervals``, ``depends_on``, ``enqueued_by``) are
decoded as the SQLite backend's, and a row that does not decode costs only
itself: a claim moves it to failed at once, naming the field
(``joblane.backends.decoding``).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict

from joblane.backends.postgres.backend import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_POOL_SIZE,
    DEFAULT_RETRY_FOR,
    PostgresBackend,
)
from joblane.backends.postgres.database import said
from joblane.backends.postgres.queries import DEFAULT_SCHEMA, check_schema_name
from joblane.config import redact_url
from joblane.core.clock import Clock
from joblane.errors import ConfigurationError

__all__ = ["PostgresBackend", "from_url", "parse_url"]

SCHEMES = ("postgresql", "postgres")
OPTIONS = ("schema", "pool_size", "retry_for", "connect_timeout", "pgbouncer")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def parse_url(url: str) -> tuple[str, dict[str, object]]:
    """Split a PostgreSQL URL into what psycopg connects to (libpq's options
    kept) and joblane's options, checked. Raises ConfigurationError."""
    shown = redact_url(url)
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ConfigurationError(f"invalid PostgreSQL URL {shown!r}: {said(exc)}") from None
    if parts.scheme not in SCHEMES:
        raise ConfigurationError(
            f"not a PostgreSQL URL: {shown!r}; use postgresql://user:password@host:port/database"
        )
    ours: dict[str, str] = {}
    passed: list[tuple[str, str]] = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        (ours.__setitem__(name, value) if name in OPTIONS else passed.append((name, value)))
    schema = check_schema_name(ours.get("schema", DEFAULT_SCHEMA))
    pool_size = _number(ours, "pool_size", DEFAULT_POOL_SIZE, shown, int)
    if pool_size < 1:
        raise ConfigurationError(f"pool_size must be at least 1 in {shown!r}")
    retry_for = _number(ours, "retry_for", DEFAULT_RETRY_FOR, shown, float)
    connect_timeout = _number(ours, "connect_timeout", DEFAULT_CONNECT_TIMEOUT, shown, float)
    if retry_for < 0 or connect_timeout <= 0:
        raise ConfigurationError(
            f"retry_for must be >= 0 and connect_timeout > 0 seconds in {shown!r}"
        )
    bouncer = ours.get("pgbouncer", "0").lower()
    if bouncer not in _TRUE + _FALSE:
        raise ConfigurationError(f"pgbouncer must be 0 or 1, not {bouncer!r}, in {shown!r}")
    conninfo = urlunsplit(("postgresql", parts.netloc, parts.path, urlencode(passed), ""))
    try:
        conninfo_to_dict(conninfo)  # libpq's own check of its options
    except psycopg.Error as exc:
        raise ConfigurationError(f"invalid PostgreSQL URL {shown!r}: {said(exc)}") from None
    return conninfo, {
        "schema": schema,
        "pool_size": pool_size,
        "retry_for": retry_for,
        "connect_timeout": connect_timeout,
        "prepare": bouncer not in _TRUE,
    }


def _number(options: dict[str, str], name: str, default: float, shown: str, kind: type) -> float:
    if name not in options:
        return default
    try:
        value: float = kind(options[name])
    except ValueError:
        raise ConfigurationError(
            f"{name} must be a {'whole ' if kind is int else ''}number, not {options[name]!r}, "
            f"in {shown!r}"
        ) from None
    return value


def from_url(url: str, *, clock: Clock | None = None) -> PostgresBackend:
    """Open the PostgreSQL backend that *url* names (see :func:`parse_url`)."""
    conninfo, options = parse_url(url)
    return PostgresBackend(
        conninfo,
        clock=clock,
        display_url=redact_url(url),
        schema=str(options["schema"]),
        pool_size=int(options["pool_size"]),  # type: ignore[call-overload]
        retry_for=float(options["retry_for"]),  # type: ignore[arg-type]
        connect_timeout=float(options["connect_timeout"]),  # type: ignore[arg-type]
        prepare=bool(options["prepare"]),
    )
