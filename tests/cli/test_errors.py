"""Bad input: one line on stderr starting with ``Error: `` that names what was
wrong, exit status 2 for bad usage or a bad value, 1 for a failed operation,
never a traceback, and nothing half-done."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from joblane.cli import main
from tests.cli.conftest import Cli, assert_one_error_line, queue_counts, run_joblane

ECHO = "tests.jobs.sample.echo"


def assert_nothing_enqueued(cli: Cli) -> None:
    for queue, counts in queue_counts(cli.info()).items():
        assert set(counts.values()) == {0}, (queue, counts)


# -- usage -------------------------------------------------------------------------


def test_unknown_command(cli: Cli) -> None:
    line = assert_one_error_line(cli("frobnicate"), 2, "'frobnicate'")
    assert "joblane --help" in line


@pytest.mark.parametrize(
    ("args", "missing"),
    [(["enqueue"], "FUNCTION"), (["job"], "JOB_ID"), (["empty"], "QUEUE")],
)
def test_missing_argument(cli: Cli, args: list[str], missing: str) -> None:
    line = assert_one_error_line(cli(*args), 2, "Missing argument", missing)
    assert f"joblane {args[0]} --help" in line


def test_unknown_option(cli: Cli) -> None:
    assert_one_error_line(cli("enqueue", ECHO, "--priority", "high"), 2, "--priority")


def test_negative_number_without_double_dash(cli: Cli) -> None:
    assert_one_error_line(cli("enqueue", ECHO, "-7"), 2, "-7")


# -- enqueue values ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["1", "{oops"], ["argument 2", "not valid JSON"]),
        (["hello"], ["argument 1", "not valid JSON", "quote strings"]),
        (["[1, 2"], ["argument 1", "not valid JSON"]),
        (["--kwargs", "{"], ["--kwargs", "not valid JSON"]),
        (["--kwargs", "[1, 2]"], ["--kwargs", "JSON object"]),
        (["--kwargs", '"a"'], ["--kwargs", "JSON object"]),
        (["--kwargs", "null"], ["--kwargs", "JSON object"]),
    ],
)
def test_invalid_json(cli: Cli, args: list[str], names: list[str]) -> None:
    assert_one_error_line(cli("enqueue", ECHO, *args), 2, *names)
    assert_nothing_enqueued(cli)


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["NaN"], ["argument 1", "NaN", "JSON has no NaN or Infinity"]),
        (["1", "Infinity"], ["argument 2", "Infinity"]),
        (["--", "-Infinity"], ["argument 1", "-Infinity"]),
        (["1e400"], ["argument 1", "1e400", "out of the range of a float"]),
        (['[1, {"x": -1e999}]'], ["argument 1", "-1e999"]),
        (["--kwargs", '{"score": NaN}'], ["--kwargs", "NaN"]),
        (["[" * 5000 + "]" * 5000], ["argument 1", "nested"]),
        (["9" * 5000], ["argument 1", "not valid JSON"]),
        (["1" + "0" * 30], ["argument 0", "not JSON-serializable", "int value"]),
    ],
)
def test_non_finite_huge_and_deep_arguments(cli: Cli, args: list[str], names: list[str]) -> None:
    # NaN, Infinity and 1e400 were enqueued as null: the job received None.
    assert_one_error_line(cli("enqueue", ECHO, *args), 2, *names)
    assert_nothing_enqueued(cli)


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--retry", "1", "--retry-interval", "3e11"], ["Retry.interval", "315360000"]),
        (["--retry", "1", "--retry-interval", "inf"], ["--retry-interval", "finite"]),
        (["--retry", "1", "--retry-interval", "nan"], ["--retry-interval", "finite"]),
        (["--retry", "1" + "0" * 30], ["Retry.max", "1000000"]),
        (["--timeout", "1e300"], ["job_timeout", "315360000"]),
        (["--timeout", "1e400"], ["--timeout", "finite"]),
        (["--in", "3651d"], ["scheduled", "315360000"]),
        (["--in", "9" * 400 + "d"], ["--in", "too far"]),
        (["--at", "9999-12-31T23:59:59"], ["scheduled", "315360000"]),
    ],
)
def test_durations_out_of_range(cli: Cli, args: list[str], names: list[str]) -> None:
    # A 3e11 s retry interval was stored, then made `joblane job` print an OverflowError.
    assert_one_error_line(cli("enqueue", ECHO, *args), 2, *names)
    assert_nothing_enqueued(cli)


@pytest.mark.parametrize("delay", ["5x", "soon", "-5m", "5 m", "1e3", "m"])
def test_in_bad_duration(cli: Cli, delay: str) -> None:
    assert_one_error_line(cli("enqueue", ECHO, "--in", delay), 2, repr(delay), "duration")
    assert_nothing_enqueued(cli)


@pytest.mark.parametrize("when", ["tomorrow", "2031-13-01T00:00:00", "2031-02-30", "12:00 UTC"])
def test_at_bad_time(cli: Cli, when: str) -> None:
    assert_one_error_line(cli("enqueue", ECHO, "--at", when), 2, repr(when), "ISO 8601")
    assert_nothing_enqueued(cli)


def test_in_with_at(cli: Cli) -> None:
    result = cli("enqueue", ECHO, "--in", "5m", "--at", "2031-01-01T00:00:00")
    assert_one_error_line(result, 2, "--in", "--at")
    assert_nothing_enqueued(cli)


def test_retry_interval_without_retry(cli: Cli) -> None:
    result = cli("enqueue", ECHO, "--retry-interval", "5")
    assert_one_error_line(result, 2, "--retry-interval", "--retry")
    assert_nothing_enqueued(cli)


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (["--retry", "-1"], "--retry"),
        (["--retry", "many"], "--retry"),
        (["--retry", "1", "--retry-interval", "-2"], "--retry-interval"),
        (["--timeout", "0"], "--timeout"),
        (["--timeout", "-3"], "--timeout"),
        (["--timeout", "long"], "--timeout"),
    ],
)
def test_bad_numeric_option(cli: Cli, args: list[str], name: str) -> None:
    assert_one_error_line(cli("enqueue", ECHO, *args), 2, name)
    assert_nothing_enqueued(cli)


@pytest.mark.parametrize("name", ["bad/name", "a b", ".hidden", "a..b", "x" * 65, "caf\u00e9"])
def test_invalid_queue_name_for_enqueue(cli: Cli, name: str) -> None:
    line = assert_one_error_line(cli("enqueue", ECHO, "--queue", name), 2, "invalid queue name")
    assert repr(name)[:40] in line
    assert_nothing_enqueued(cli)


@pytest.mark.parametrize(
    "args",
    [["empty", "bad/name"], ["requeue", "--all", "--queue", "a b"], ["worker", "-q", "ok,b@d"]],
)
def test_invalid_queue_name_elsewhere(cli: Cli, args: list[str]) -> None:
    assert_one_error_line(cli(*args), 2, "invalid queue name")


def test_worker_with_no_queue(cli: Cli) -> None:
    assert_one_error_line(cli("worker", "--queues", " , "), 2, "at least one queue")


@pytest.mark.parametrize("args", [["empty", "nosuch"], ["requeue", "--all", "--queue", "nosuch"]])
def test_unknown_queue(cli: Cli, args: list[str]) -> None:
    cli.enqueue(ECHO, "--queue", "mail")
    line = assert_one_error_line(cli(*args), 1, "unknown queue 'nosuch'")
    assert "important, normal, low, mail" in line  # the queues there are


@pytest.mark.parametrize("job_id", ["bad/id", "has space", "../etc", "x" * 129, "\u00e9t\u00e9"])
def test_invalid_job_id(cli: Cli, job_id: str) -> None:
    assert_one_error_line(cli("job", job_id), 2, "invalid job id")
    assert_one_error_line(cli("requeue", job_id), 2, "invalid job id")
    assert_one_error_line(cli("enqueue", ECHO, "--job-id", job_id), 2, "invalid job id")
    assert_nothing_enqueued(cli)


def test_job_that_does_not_exist(cli: Cli) -> None:
    assert_one_error_line(cli("job", "no-such-job"), 1, "no job with the id 'no-such-job'")
    assert_one_error_line(cli("requeue", "no-such-job"), 1, "'no-such-job'")


def test_duplicate_job_id(cli: Cli) -> None:
    cli.enqueue(ECHO, "--job-id", "once")
    assert_one_error_line(cli("enqueue", ECHO, "--job-id", "once"), 1, "'once'")
    assert queue_counts(cli.info())["normal"]["queued"] == 1


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["some-id", "--all"], ["JOB_ID", "--all"]),
        (["some-id", "--all", "--queue", "normal"], ["JOB_ID", "--all"]),
        ([], ["JOB_ID", "--all"]),
        (["--queue", "normal"], ["JOB_ID", "--all"]),
        (["some-id", "--queue", "normal"], ["--queue"]),
        (["--all"], ["--all", "--queue"]),
    ],
)
def test_requeue_usage(cli: Cli, args: list[str], names: list[str]) -> None:
    line = assert_one_error_line(cli("requeue", *args), 2, *names)
    assert "joblane requeue --help" in line


def test_requeue_a_job_that_did_not_fail(cli: Cli) -> None:
    job_id = cli.enqueue(ECHO)
    assert_one_error_line(cli("requeue", job_id), 1, repr(job_id), "queued")
    assert cli.job(job_id)["status"] == "queued"


def test_a_stored_time_out_of_range_is_one_line(cli: Cli, db_url: str) -> None:
    # A job stored before durations were bounded: its time is past datetime's range.
    job_id = cli.enqueue(ECHO)
    with contextlib.closing(sqlite3.connect(db_url.removeprefix("sqlite:///"))) as conn, conn:
        conn.execute("UPDATE jobs SET created = 1e30 WHERE id = ?", (job_id,))
    assert_one_error_line(cli("job", job_id), 1, "out of range")


@pytest.mark.parametrize("name", ["not a name", "tests.jobs.sample.<lambda>", "x.", ".x"])
def test_invalid_function_name(cli: Cli, name: str) -> None:
    assert_one_error_line(cli("enqueue", name), 2, "invalid function name", repr(name))
    assert_nothing_enqueued(cli)


# -- settings ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "names"),
    [
        ("mysql://db.example.com/jobs", ["'mysql'"]),
        ("jobs.db", ["'jobs.db'", "scheme://"]),
        ("sqlite://", ["'sqlite://'"]),
        ("sqlite:///", ["'sqlite:///'"]),
    ],
)
def test_bad_backend_url(cli: Cli, url: str, names: list[str]) -> None:
    cli.url = url
    assert_one_error_line(cli("info"), 1, *names)
    assert_one_error_line(cli("enqueue", ECHO), 1, *names)


def test_sqlite_file_in_a_missing_directory(cli: Cli, tmp_path: Path) -> None:
    cli.url = f"sqlite:///{tmp_path}/no/such/dir/jobs.db"
    assert_one_error_line(cli("info"), 1, "no/such/dir/jobs.db")


def test_url_from_the_environment(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBLANE_URL", "mysql://db.example.com/jobs")
    cli.capsys.readouterr()
    assert main(["info"]) == 1
    captured = cli.capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith("Error: ")
    assert "'mysql'" in captured.err


def test_payload_over_the_limit(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBLANE_MAX_PAYLOAD", "64")
    result = cli("enqueue", ECHO, '"' + "x" * 100 + '"')
    assert_one_error_line(result, 2, "payload", "limit of 64 bytes")
    assert_nothing_enqueued(cli)
    cli.enqueue(ECHO, "1")  # a small one still fits


@pytest.mark.parametrize("value", ["abc", "0", "-5", "1.5"])
def test_bad_max_payload_setting(cli: Cli, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("JOBLANE_MAX_PAYLOAD", value)
    assert_one_error_line(cli("enqueue", ECHO, "1"), 1, "JOBLANE_MAX_PAYLOAD", value)
    monkeypatch.delenv("JOBLANE_MAX_PAYLOAD")
    assert_nothing_enqueued(cli)


# -- worker ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [["--concurrency", "0"], ["-c", "-1"], ["--concurrency", "two"], ["--lease", "0.5"],
     # nan, inf and 1e400 passed click's FloatRange; a huge prefetch overflowed SQLite.
     ["--lease", "nan"], ["--lease", "inf"], ["--lease", "1e400"], ["--lease", "1e300"],
     ["--grace", "nan"], ["--grace", "-inf"], ["--grace", "-1"], ["--grace", "soon"],
     ["--prefetch", "1" + "0" * 23], ["--prefetch", "10001"], ["--jobs-per-slot", "0"],
     ["--jobs-per-slot", "many"]],
)  # fmt: skip
def test_worker_bad_option(cli: Cli, args: list[str]) -> None:
    assert_one_error_line(cli("worker", *args), 2, args[0])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("module", "names"),
    [
        ("no.such.module", ["'no.such.module'", "ModuleNotFoundError"]),
        ("tests.jobs.explodes_on_import", ["'tests.jobs.explodes_on_import'", "RuntimeError"]),
    ],
)
def test_worker_import_error(db_url: str, module: str, names: list[str]) -> None:
    """A real worker process that cannot import a job module says so and stops."""
    done = run_joblane("--url", db_url, "worker", "--import", module)
    assert done.returncode in (1, 2), done
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("Error: "), done.stderr
    for name in names:
        assert name in done.stderr
    assert done.stdout == ""


# -- bugs --------------------------------------------------------------------------


@pytest.mark.parametrize("delay", ["99999999999d", "999999999d"])
def test_in_too_far_ahead(cli: Cli, delay: str) -> None:
    assert_one_error_line(cli("enqueue", ECHO, "--in", delay), 2, repr(delay))
    assert_nothing_enqueued(cli)


def test_at_past_the_last_representable_time(cli: Cli) -> None:
    when = "9999-12-31T23:59:59-05:00"  # 10000-01-01T04:59:59 UTC
    result = cli("enqueue", ECHO, "--at", when)
    if result.code == 0:  # accepted: then it must read back
        assert cli.job(result.out.strip())["status"] == "scheduled"
    else:
        assert_one_error_line(result, 2, repr(when))


@pytest.mark.parametrize("number", ["99999999999999999999999", "-9223372036854775809"])
def test_big_integer_argument_is_not_silently_changed(cli: Cli, number: str) -> None:
    result = cli("enqueue", ECHO, "--", number)
    if result.code == 0:
        assert cli.job(result.out.strip())["args"] == [int(number)]
    else:
        assert_one_error_line(result, 2, number)  # the serializer names the value


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (["--job-id", ""], "job id"),
        (["--kwargs", ""], "--kwargs"),
        (["--in", ""], "duration"),
        (["--at", ""], "ISO 8601"),
        (["--retry-interval", "0"], "--retry-interval"),
    ],
)
def test_empty_or_zero_option_value_is_not_ignored(cli: Cli, args: list[str], name: str) -> None:
    assert_one_error_line(cli("enqueue", ECHO, *args), 2, name)


@pytest.mark.parametrize(
    ("args", "name"),
    [(["--timeout", "nan"], "--timeout"), (["--retry", "1", "--retry-interval", "nan"], "nan")],
)
def test_nan_seconds_are_refused(cli: Cli, args: list[str], name: str) -> None:
    assert_one_error_line(cli("enqueue", ECHO, *args), 2, name)
