"""Writing to stored jobs behind joblane's back, as an older version, a bug or a
person with a client would: plain sqlite3, redis-py and psycopg, never joblane's code.

:meth:`Corrupter.break_field` stores, for one field of a job, a value that
joblane never writes there (:data:`SQLITE_BAD` / :data:`REDIS_BAD`, per
backend: each format can be broken in its own ways).
"""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg
import redis
from psycopg import errors as pg_errors
from psycopg import sql

from joblane.backends.postgres import parse_url as parse_postgres_url
from joblane.backends.redis import parse_url as parse_redis_url
from joblane.backends.sqlite import parse_url as parse_sqlite_url

SQLITE_BAD: dict[str, object] = {
    "payload": '{"args": [], "kwargs": {}}',  # text where a blob is stored
    "func_name": b"tests.jobs.sample.noop",  # a blob where text is stored
    "job_timeout": "soon",
    "result_ttl": "long",
    "meta": b"{{",
    "retry_intervals": "[1,",
    "depends_on": '["x",',
    "enqueued_by": b'{"user_id": 7}',  # JSON, but a user id must be text
}
"""A column of the jobs table -> a value no joblane writes there."""

POSTGRES_BAD: dict[str, object] = {
    "payload": None,  # NULL: see Corrupter.set
    "meta": b"{{",
    "retry_intervals": "[1,",
    "depends_on": '["x",',
    "enqueued_by": b'{"user_id": 7}',
}
"""A column of the jobs table -> a value no joblane writes there. The other
columns are typed: PostgreSQL refuses a value of another type (see
:meth:`Corrupter.set` for what is stored instead)."""

REDIS_FIELDS = {
    "queue": "q", "func_name": "f", "payload": "p", "status": "s", "created": "c",
    "job_timeout": "to", "result_ttl": "rt", "failure_ttl": "ft", "retries_left": "rl",
    "retry_intervals": "ri", "attempts": "a", "meta": "m", "depends_on": "d",
    "expires_at": "x", "lease_token": "lt", "enqueued_by": "by",
}  # fmt: skip
"""JobRecord field -> its field in the job hash (joblane.backends.redis.keys)."""

REDIS_BAD: dict[str, bytes | None] = {
    "payload": None,  # missing
    "func_name": b"\xfftests.jobs.sample.noop",  # not UTF-8
    "job_timeout": b"soon",
    "result_ttl": b"long",
    "meta": b"{{",
    "retry_intervals": b"[1,",
    "depends_on": b"\xff",
    "attempts": b"many",  # HINCRBY would fail in the claim script
    "expires_at": b"never",  # read by the claim script
    "enqueued_by": b'{"user_id":',
}
"""A JobRecord field -> a value no joblane writes there (None: the field removed)."""


class Corrupter:
    """Raw writes to the store that a backend URL names."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite: sqlite3.Connection | None = None
        self.redis: redis.Redis | None = None
        self.postgres: psycopg.Connection[Any] | None = None
        self.bad: dict[str, Any]
        if url.startswith("postgres"):
            conninfo, pg_options = parse_postgres_url(url)
            self.postgres = psycopg.connect(conninfo, autocommit=True)
            self.schema = sql.Identifier(str(pg_options["schema"]))
            self.bad = POSTGRES_BAD
        elif url.startswith("sqlite:"):
            path, _ = parse_sqlite_url(url)
            self.sqlite = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self.sqlite.execute("PRAGMA busy_timeout = 10000")
            self.sqlite.execute("PRAGMA ignore_check_constraints = ON")
            self.bad = SQLITE_BAD
        else:
            redis_url, options = parse_redis_url(url)
            self.redis = redis.Redis.from_url(redis_url)
            self.prefix: str = options["prefix"]
            self.bad = REDIS_BAD

    def close(self) -> None:
        if self.sqlite is not None:
            self.sqlite.close()
        if self.redis is not None:
            self.redis.close()
        if self.postgres is not None:
            self.postgres.close()

    def set(self, job_id: str, field: str, value: object) -> None:
        """Store *value* (None: NULL, or no hash field) as *field* of the job."""
        if self.sqlite is not None:
            assert field.isidentifier()
            statement = f"UPDATE jobs SET {field} = ? WHERE id = ?"
            cursor = self.sqlite.execute(statement, (value, job_id))
            assert cursor.rowcount == 1, job_id
            return
        if self.postgres is not None:
            self._set_postgres(job_id, field, value)
            return
        assert self.redis is not None
        key = self.job_key(job_id)
        assert self.redis.exists(key), job_id
        if value is None:
            self.redis.hdel(key, REDIS_FIELDS[field])
            if field == "payload":  # or its compact form (keys.py)
                self.redis.hdel(key, "g")
        else:
            self.redis.hset(key, REDIS_FIELDS[field], value)  # type: ignore[arg-type]
            if field == "payload":
                self.redis.hdel(key, "g")

    def _set_postgres(self, job_id: str, field: str, value: object) -> None:
        assert self.postgres is not None
        column = sql.Identifier(field)
        update = sql.SQL("UPDATE {}.jobs SET {} = %s WHERE id = %s").format(self.schema, column)
        try:
            cursor = self.postgres.execute(update, (value, job_id))
        except (
            pg_errors.InvalidTextRepresentation, pg_errors.DatatypeMismatch,
            pg_errors.NotNullViolation,
        ):  # fmt: skip
            # A typed column refuses the value: the nearest a PostgreSQL row can
            # come to it is NULL where joblane always writes a value (a schema
            # of another version, or a hand edit, without the NOT NULL).
            alter = sql.SQL("ALTER TABLE {}.jobs ALTER COLUMN {} DROP NOT NULL")
            self.postgres.execute(alter.format(self.schema, column))
            cursor = self.postgres.execute(update, (None, job_id))
        assert cursor.rowcount == 1, job_id

    def break_field(self, job_id: str, field: str) -> None:
        self.set(job_id, field, self.bad[field])

    def break_worker(self, name: str) -> None:
        """Make the registration of worker *name* undecodable."""
        if self.sqlite is not None:
            statement = "UPDATE workers SET queues = '[1,' WHERE name = ?"
            cursor = self.sqlite.execute(statement, (name,))
            assert cursor.rowcount == 1, name
            return
        if self.postgres is not None:
            update = sql.SQL("UPDATE {}.workers SET queues = '[1,' WHERE name = %s")
            updated = self.postgres.execute(update.format(self.schema), (name,))
            assert updated.rowcount == 1, name
            return
        assert self.redis is not None
        assert self.redis.hexists(self.prefix + "workers", name), name
        self.redis.hset(self.prefix + "workers", name, b'{"name": "' + name.encode() + b'"')

    def job_key(self, job_id: str) -> str:
        return f"{self.prefix}job:{job_id}"
