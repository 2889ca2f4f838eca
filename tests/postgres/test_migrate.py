"""Migrating a PostgreSQL schema of version 1 (made from the schema.sql of
version 1, kept in tests/fixtures) with ``joblane migrate``: ``--check`` says
the step and changes nothing, the migration keeps the jobs and leaves the
schema of the current version, the one a new schema gets, which then works."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from joblane.backends.postgres import from_url, parse_url
from joblane.backends.postgres.queries import SCHEMA_VERSION
from joblane.backends.sql.loader import parse_blocks
from joblane.core.outcome import decide
from joblane.errors import SchemaVersionError
from joblane.testing import ManualClock
from tests.cli.conftest import run_joblane
from tests.contract.helpers import LEASE, SUCCESS, claim_one, enqueue, make_job

V1_SCHEMA = Path(__file__).parent.parent / "fixtures" / "postgres_schema_v1.sql"


def _connect(url: str) -> tuple[psycopg.Connection[tuple[object, ...]], str]:
    conninfo, options = parse_url(url)
    return psycopg.connect(conninfo, autocommit=True), str(options["schema"])


def _make_v1(url: str) -> None:
    conn, schema = _connect(url)
    with conn:
        for block in parse_blocks(V1_SCHEMA.read_text(), V1_SCHEMA.name):
            conn.execute(sql.SQL(block.text).format(schema=sql.Identifier(schema)))
        conn.execute(sql.SQL("INSERT INTO {}.schema_version VALUES (1)")
                     .format(sql.Identifier(schema)))  # fmt: skip


def _set_version(url: str, version: int) -> None:
    conn, schema = _connect(url)
    with conn:
        query = sql.SQL("UPDATE {}.schema_version SET version = %s")
        conn.execute(query.format(sql.Identifier(schema)), (version,))


def _version(url: str) -> int:
    conn, schema = _connect(url)
    with conn:
        query = sql.SQL("SELECT version FROM {}.schema_version")
        row = conn.execute(query.format(sql.Identifier(schema))).fetchone()
    assert row is not None
    return int(str(row[0]))


def _leases_index(url: str) -> str:
    conn, schema = _connect(url)
    with conn:
        row = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND indexname = 'jobs_leases'",
            (schema,),
        ).fetchone()
    assert row is not None
    return str(row[0])


def test_a_version_1_schema_is_migrated_keeping_its_jobs_and_then_works(
    pg_url: str, tmp_path: Path
) -> None:
    fresh_url = pg_url.replace("schema=", "schema=fresh_", 1)
    assert fresh_url != pg_url
    from_url(fresh_url).close()  # a new schema, of the current version
    _make_v1(pg_url)
    assert _leases_index(pg_url).endswith("(lease_expires, id) WHERE (status = 'started'::text)")

    # Jobs stored under version 1 (its rows are those of version 3): one queued,
    # one started under a lease.
    clock = ManualClock(1_000_000.0)
    _set_version(pg_url, SCHEMA_VERSION)
    backend = from_url(pg_url)
    try:
        started = enqueue(backend, clock)
        claimed = claim_one(backend, clock)
        assert claimed.id == started.id
        waiting = enqueue(backend, clock)
    finally:
        backend.close()
    _set_version(pg_url, 1)

    with pytest.raises(SchemaVersionError, match="joblane migrate"):
        from_url(pg_url)
    check = run_joblane("--url", pg_url, "migrate", "--check")
    assert check.returncode == 1, check
    assert "schema version 1 -> 2" in check.stdout
    assert "schema version 2 -> 3" in check.stdout
    assert _version(pg_url) == 1

    done = run_joblane("--url", pg_url, "migrate")
    assert done.returncode == 0, done
    assert "schema version 1 -> 2" in done.stdout
    assert "schema version 2 -> 3" in done.stdout
    assert _version(pg_url) == SCHEMA_VERSION == 3
    assert _leases_index(pg_url) == _leases_index(fresh_url).replace("fresh_", "", 1)
    assert _leases_index(pg_url).endswith("(lease_expires) WHERE (lease_expires IS NOT NULL)")
    assert run_joblane("--url", pg_url, "migrate", "--check").returncode == 0

    backend = from_url(pg_url)
    try:
        assert backend.get(waiting.id) is not None
        # The started job's lease, through the rebuilt index: renewed, then lapsed.
        assert backend.renew([(claimed.id, str(claimed.lease_token))], lease_seconds=LEASE,
                             now=clock.now()).lost == []  # fmt: skip
        assert backend.expired_leases(clock.now()) == []
        lapsed = backend.expired_leases(clock.now() + LEASE + 1)
        assert [job.id for job in lapsed] == [claimed.id]
        now = clock.now()
        assert claimed.lease_token is not None
        assert backend.settle([decide(claimed, claimed.lease_token, SUCCESS, now)], now) == [True]
        # New jobs, one alone and a batch, go through.
        later = backend.enqueue([make_job(clock), make_job(clock)])
        taken = [claim_one(backend, clock) for _ in range(3)]
        assert [job.id for job in taken] == [waiting.id, *(job.id for job in later)]
        assert all(
            backend.settle([decide(job, str(job.lease_token), SUCCESS, now)], now) == [True]
            for job in taken
        )
        assert backend.expired_leases(now + LEASE + 1) == []
    finally:
        backend.close()
