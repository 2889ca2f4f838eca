"""``joblane migrate`` on a database file written by joblane 0.1.0 (commit 2e1b181):
refused before, intact after. tests/fixtures/make_joblane_0_1_0_db.py made the
file and recorded what it holds in joblane-0.1.0.json."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from joblane.backends.base import ScheduleInfo, TickClaim
from joblane.backends.sqlite.migrate import migrate_file
from joblane.backends.sqlite.queries import MIGRATIONS, SCHEMA_VERSION
from joblane.client import Queue
from joblane.config import backend_from_url
from joblane.core.job import JobOptions, new_job
from joblane.core.outcome import Outcome, decide
from joblane.core.serialization import dumps
from joblane.errors import BackendError, SchemaVersionError
from tests.cli.conftest import Cli, assert_one_error_line, run_joblane
from tests.fixtures.make_joblane_0_1_0_db import describe

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def old_url(tmp_path: Path) -> str:
    """A copy of the 0.1.0 file (schema version 1)."""
    shutil.copy(FIXTURES / "joblane-0.1.0.db", tmp_path / "old.db")
    return f"sqlite:///{tmp_path / 'old.db'}"


def user_version(url: str) -> int:
    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        version: int = conn.execute("PRAGMA user_version").fetchone()[0]
        return version
    finally:
        conn.close()


def test_a_0_1_0_file_is_refused_until_migrated(old_url: str) -> None:
    with pytest.raises(SchemaVersionError) as caught:
        backend_from_url(old_url)
    assert "joblane migrate" in str(caught.value)
    assert (caught.value.found, caught.value.expected) == (1, SCHEMA_VERSION)
    with pytest.raises(SchemaVersionError, match="joblane migrate"):
        Queue("normal", url=old_url)
    worker = run_joblane("--url", old_url, "worker", "--burst")
    assert worker.returncode == 1, worker
    assert "Traceback" not in worker.stderr
    assert "joblane migrate" in worker.stderr
    assert user_version(old_url) == 1  # nothing was changed by the refusals


def test_migrate_keeps_every_job_result_and_registry_entry(old_url: str) -> None:
    check = run_joblane("--url", old_url, "migrate", "--check")
    assert check.returncode == 1, check
    assert "schema version 1 -> 2" in check.stdout and "schema version 2 -> 3" in check.stdout
    assert "schema version 3 -> 4" in check.stdout and "schema version 4 -> 5" in check.stdout
    assert user_version(old_url) == 1

    done = run_joblane("--url", old_url, "migrate")
    assert done.returncode == 0, done
    assert done.stdout.startswith("migrated: ") and "schema version 1 -> 2" in done.stdout
    assert "schema version 2 -> 3" in done.stdout
    assert user_version(old_url) == SCHEMA_VERSION

    again = run_joblane("--url", old_url, "migrate")
    assert (again.returncode, again.stderr) == (0, ""), again
    assert "up to date" in again.stdout
    assert run_joblane("--url", old_url, "migrate", "--check").returncode == 0

    expected = json.loads((FIXTURES / "joblane-0.1.0.json").read_text())
    backend = backend_from_url(old_url)
    try:
        found = describe(backend)
        for job_id, fields in expected["jobs"].items():
            job = found["jobs"][job_id]
            assert {name: job[name] for name in fields} == fields, job_id
            assert job["lost_attempts"] == 0
            assert job["enqueued_by"] is None
        for key in ("queue_names", "queues", "workers"):
            assert found[key] == expected[key], key
        assert found["jobs"].keys() == expected["jobs"].keys()
        finish_the_parent(backend)
        cron_ticks_are_claimed_once(backend)
    finally:
        backend.close()


def cron_ticks_are_claimed_once(backend: Any) -> None:
    """The migrated file has the schedules table of version 4."""
    now = backend.now()
    info = ScheduleInfo("nightly", "tests.jobs.sample.add", "0 3 * * *", "UTC", "normal",
                        "skip", None, "w-1", now, now + 15)  # fmt: skip
    assert backend.register_schedules([info]) == {"nightly": now}
    job = new_job("normal", "tests.jobs.sample.add", [1, 2], {}, JobOptions(), now=now)
    claims = [TickClaim("nightly", now + 1, job)] * 2
    assert backend.claim_ticks(claims) == [True, False]
    assert [s.last_tick for s in backend.schedules()] == [now + 1]


def finish_the_parent(backend: Any) -> None:
    """The dependency links were kept: the deferred job waits for parent-queued
    (finished-1 it waited for too is done), and is queued once it finishes."""
    now = backend.now()
    _, (parent,) = backend.claim(["high"], worker="w-1", limit=1, lease_seconds=60, now=now)
    assert parent.id == "parent-queued"
    outcome = Outcome.success(dumps(4))
    assert backend.settle([decide(parent, parent.lease_token, outcome, now)], now) == [True]
    deferred = backend.get("deferred-1")
    assert deferred is not None and deferred.status.value == "queued"


def test_the_cli_says_when_nothing_is_to_migrate(cli: Cli, tmp_path: Path) -> None:
    assert "up to date" in cli.ok("migrate")  # no file yet: a new one gets the schema
    backend_from_url(cli.url).close()
    assert "up to date" in cli.ok("migrate", "--check")


def test_a_newer_schema_is_refused(cli: Cli) -> None:
    backend_from_url(cli.url).close()
    conn = sqlite3.connect(cli.url.removeprefix("sqlite:///"))
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    assert_one_error_line(cli("migrate"), 1, f"version {SCHEMA_VERSION + 1}", "upgrade joblane")
    with pytest.raises(SchemaVersionError, match="upgrade joblane"):
        backend_from_url(cli.url)


def test_a_failed_migration_leaves_the_old_version(old_url: str) -> None:
    path = old_url.removeprefix("sqlite:///")
    broken = {**MIGRATIONS, 3: "ALTER TABLE no_such_table ADD COLUMN x INTEGER"}
    with pytest.raises(BackendError, match="stays at version 2"):
        migrate_file(path, migrations=broken, target=3)
    assert user_version(old_url) == 2  # the step before it is done, once
    assert migrate_file(path, migrations=broken, target=2) == []


def test_a_step_fails_whole(old_url: str) -> None:
    """A migration is one transaction: a statement that fails after changing
    rows leaves none of its changes."""
    path = old_url.removeprefix("sqlite:///")
    # Updates every job, then fails on the CHECK constraint of the status.
    bad = (
        "UPDATE jobs SET meta = NULL, status = CASE WHEN id = 'started-1' THEN 'x' ELSE status END"
    )
    with pytest.raises(BackendError, match="stays at version 1"):
        migrate_file(path, migrations={2: bad}, target=2)
    assert user_version(old_url) == 1
    conn = sqlite3.connect(path)
    metas = conn.execute("SELECT count(*) FROM jobs WHERE meta IS NOT NULL").fetchone()[0]
    conn.close()
    assert metas == 2


def test_migrate_names_what_is_wrong_with_the_url(
    cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = Cli(cli.url + "?busy_timeout=soon", capsys)
    assert_one_error_line(bad("migrate"), 1, "busy_timeout")
    unknown = Cli("nosuch://x", capsys)
    assert_one_error_line(unknown("migrate"), 1, "'nosuch'", "sqlite", "redis")
    assert "nothing to migrate" in Cli("memory://", capsys).ok("migrate", "--check")
