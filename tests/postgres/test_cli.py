"""The ``joblane`` command and the URL on PostgreSQL: options checked at once,
passwords never shown, ``joblane migrate`` (the same mechanism as SQLite's,
with steps given to it here; the real step from version 1 is in
test_migrate.py) and ``joblane check`` against a real worker process."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from joblane.backends.postgres import PostgresBackend, from_url, parse_url
from joblane.backends.postgres.migrate import migrate_url
from joblane.backends.postgres.queries import SCHEMA_VERSION
from joblane.config import backend_from_url
from joblane.errors import BackendError, ConfigurationError, SchemaVersionError
from joblane.migrate import migrate
from tests.cli.conftest import Cli
from tests.worker.conftest import WorkerProcesses, wait_until


def test_joblane_options_are_taken_out_and_libpq_s_pass_through() -> None:
    conninfo, options = parse_url(
        "postgres://app:s3cret@db:5433/shop?schema=jobs_2&pool_size=3&retry_for=2.5"
        "&connect_timeout=1&pgbouncer=1&sslmode=disable"
    )
    assert conninfo == "postgresql://app:s3cret@db:5433/shop?sslmode=disable"
    assert options == {"schema": "jobs_2", "pool_size": 3, "retry_for": 2.5,
                       "connect_timeout": 1.0, "prepare": False}  # fmt: skip


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("schema=Jobs", "'Jobs'"),
        ("schema=1jobs", "'1jobs'"),
        ("pool_size=0", "pool_size"),
        ("pool_size=many", "pool_size"),
        ("retry_for=-1", "retry_for"),
        ("pgbouncer=maybe", "'maybe'"),
        ("schem=x", '"schem"'),  # libpq's own check
    ],
)
def test_a_bad_option_is_a_configuration_error_naming_it(query: str, named: str) -> None:
    with pytest.raises(ConfigurationError, match=named) as raised:
        parse_url(f"postgresql://app:s3cret@db/shop?{query}")
    assert "s3cret" not in str(raised.value)


def test_the_url_shown_has_no_password(pg_url: str) -> None:
    url = pg_url.replace("postgres@", "postgres:s3cret@", 1)  # trust authentication
    backend = from_url(url)
    try:
        assert "s3cret" not in backend.url and "s3cret" not in repr(backend)
        assert backend.url.startswith("postgresql://postgres:***@")
    finally:
        backend.close()


def test_an_unreachable_server_is_a_backend_error_naming_the_url() -> None:
    from tests.servers import free_port

    url = f"postgresql://app:s3cret@127.0.0.1:{free_port()}/shop?retry_for=0.5"
    with pytest.raises(BackendError, match="stayed unreachable") as raised:
        backend_from_url(url)
    assert "s3cret" not in str(raised.value) and "127.0.0.1" in str(raised.value)


def test_migrate_steps_run_once_each_and_a_failed_step_rolls_back(
    pg: PostgresBackend, pg_url: str
) -> None:
    target = SCHEMA_VERSION + 1
    good = {target: f'ALTER TABLE "{pg.schema}".jobs ADD COLUMN extra int'.encode()}
    assert migrate(pg_url) == []  # up to date
    assert len(migrate_url(pg_url, apply=False, migrations=good, target=target)) == 1
    assert len(migrate_url(pg_url, migrations=good, target=target)) == 1
    assert migrate_url(pg_url, migrations=good, target=target) == []  # done already
    # A schema of a newer version is refused, by producers and by migrate.
    with pytest.raises(SchemaVersionError):
        from_url(pg_url)
    with pytest.raises(SchemaVersionError):
        migrate(pg_url)
    bad = {target + 1: b"ALTER TABLE nosuch ADD COLUMN x int"}
    with pytest.raises(BackendError, match="rolled back"):
        migrate_url(pg_url, migrations=bad, target=target + 1)
    assert _version(pg_url) == target


def test_a_schema_of_an_older_version_is_refused_until_migrated(pg_url: str) -> None:
    from_url(pg_url).close()
    _set_version(pg_url, SCHEMA_VERSION - 1)
    with pytest.raises(SchemaVersionError, match="joblane migrate"):
        from_url(pg_url)
    step = {SCHEMA_VERSION: b"SELECT 1"}
    assert len(migrate_url(pg_url, migrations=step)) == 1
    from_url(pg_url).close()


def _version(url: str) -> int:
    conninfo, options = parse_url(url)
    with psycopg.connect(conninfo) as conn:
        query = sql.SQL("SELECT version FROM {}.schema_version")
        row = conn.execute(query.format(sql.Identifier(str(options["schema"])))).fetchone()
    assert row is not None
    return int(row[0])


def _set_version(url: str, version: int) -> None:
    conninfo, options = parse_url(url)
    with psycopg.connect(conninfo) as conn:
        query = sql.SQL("UPDATE {}.schema_version SET version = %s")
        conn.execute(query.format(sql.Identifier(str(options["schema"]))), (version,))


@pytest.mark.slow
def test_the_cli_and_check_on_postgresql(
    pg_url: str, pg_workers: WorkerProcesses, capsys: pytest.CaptureFixture[str]
) -> None:
    cli = Cli(pg_url, capsys)
    assert "is up to date" in cli.ok("migrate")
    pg_workers.start("-q", "normal")
    wait_until(lambda: cli("check", "-q", "normal").code == 0, what="a healthy check")
    job_id = cli.enqueue("tests.jobs.sample.add", "1", "2")
    wait_until(lambda: cli.job(job_id)["status"] == "finished", what="the job to finish")
    assert cli.job(job_id)["return_value"] == 3
    assert "normal" in cli.ok("info")
