"""``joblane enqueue`` and ``joblane job``: what a job is given, and how it reads back."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.cli.conftest import Cli, parse_time, queue_counts

ECHO = "tests.jobs.sample.echo"


def test_prints_the_job_id_and_job_shows_it(cli: Cli) -> None:
    job_id = cli.enqueue(ECHO)
    assert re.fullmatch(r"[0-9a-f]{32}", job_id)
    job = cli.job(job_id)
    assert job["id"] == job_id
    assert job["func_name"] == ECHO
    assert (job["queue"], job["status"]) == ("normal", "queued")
    assert (job["args"], job["kwargs"]) == ([], {})
    assert job["enqueued"] is not None and job["scheduled"] is None
    assert job["job_timeout"] == 180  # the default
    assert job["retries_left"] == 0


def test_each_argument_is_a_json_value(cli: Cli) -> None:
    args = ["42", "2.5", '"hello"', '"42"', '[1, [2, 3], "x"]', '{"a": {"b": [null]}}']
    job_id = cli.enqueue(ECHO, *args, "--kwargs", '{"n": 1, "tags": ["x"], "deep": {"k": false}}')
    job = cli.job(job_id)
    assert job["args"] == [42, 2.5, "hello", "42", [1, [2, 3], "x"], {"a": {"b": [None]}}]
    assert job["kwargs"] == {"n": 1, "tags": ["x"], "deep": {"k": False}}
    assert job["description"].startswith("tests.jobs.sample.echo(42, 2.5, 'hello', '42', ")


def test_negative_numbers_come_after_a_double_dash(cli: Cli) -> None:
    job = cli.job(cli.enqueue("--queue", "low", ECHO, "--", "-7", "-0.5", '"--in"'))
    assert (job["args"], job["queue"], job["status"]) == ([-7, -0.5, "--in"], "low", "queued")


def test_json_scalars_keep_their_types(cli: Cli) -> None:
    job = cli.job(cli.enqueue(ECHO, "null", "true", "false", "0", "1e3", '"\u00e9t\u00e9"'))
    assert job["args"] == [None, True, False, 0, 1000.0, "\u00e9t\u00e9"]
    assert [type(a) for a in job["args"]] == [type(None), bool, bool, int, float, str]


def test_queue_option_puts_the_job_on_that_queue(cli: Cli) -> None:
    job_id = cli.enqueue(ECHO, "--queue", "low")
    cli.enqueue(ECHO, "-q", "mail.outbox")
    assert cli.job(job_id)["queue"] == "low"
    counts = queue_counts(cli.info())
    assert counts["low"]["queued"] == 1
    assert counts["mail.outbox"]["queued"] == 1  # a new queue is listed once it holds jobs
    assert counts["normal"]["queued"] == 0


@pytest.mark.parametrize(
    ("delay", "seconds"),
    [("5m", 300), ("90", 90), ("45s", 45), ("2h", 7200), ("1d", 86400), ("1.5m", 90)],
)
def test_in_schedules_the_job_after_the_delay(cli: Cli, delay: str, seconds: int) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    job_id = cli.enqueue(ECHO, "--in", delay)
    after = datetime.now(UTC)
    job = cli.job(job_id)
    assert (job["status"], job["enqueued"]) == ("scheduled", None)
    scheduled = parse_time(job["scheduled"])
    assert before + timedelta(seconds=seconds) <= scheduled <= after + timedelta(seconds=seconds)
    counts = queue_counts(cli.info())["normal"]
    assert (counts["queued"], counts["scheduled"]) == (0, 1)


@pytest.mark.parametrize(
    ("when", "utc"),
    [
        ("2031-05-06T07:08:09", "2031-05-06T07:08:09"),  # no offset: UTC
        ("2031-05-06T07:08:09+02:00", "2031-05-06T05:08:09"),
        ("2031-05-06T07:08:09Z", "2031-05-06T07:08:09"),
        ("2031-05-06 07:08", "2031-05-06T07:08:00"),
        ("2031-05-06", "2031-05-06T00:00:00"),
    ],
)
def test_at_schedules_the_job_at_that_time(cli: Cli, when: str, utc: str) -> None:
    job_id = cli.enqueue(ECHO, "--at", when, "--queue", "important")
    job = cli.job(job_id)
    assert (job["status"], job["scheduled"], job["queue"]) == ("scheduled", utc, "important")
    counts = queue_counts(cli.info())["important"]
    assert (counts["queued"], counts["scheduled"]) == (0, 1)


def test_at_a_past_time_queues_the_job_now(cli: Cli) -> None:
    job = cli.job(cli.enqueue(ECHO, "--at", "2001-01-01T00:00:00"))
    assert (job["status"], job["scheduled"]) == ("queued", None)
    assert queue_counts(cli.info())["normal"]["queued"] == 1


def test_job_id_option(cli: Cli) -> None:
    assert cli.enqueue(ECHO, "--job-id", "nightly-report_2031") == "nightly-report_2031"
    job = cli.job("nightly-report_2031")
    assert (job["id"], job["func_name"]) == ("nightly-report_2031", ECHO)


def test_retry_and_retry_interval(cli: Cli) -> None:
    job = cli.job(cli.enqueue(ECHO, "--retry", "3", "--retry-interval", "10"))
    assert (job["retries_left"], job["retry_intervals"]) == (3, [10])
    job = cli.job(cli.enqueue(ECHO, "--retry", "2"))
    assert (job["retries_left"], job["retry_intervals"]) == (2, [0])


def test_timeout(cli: Cli) -> None:
    assert cli.job(cli.enqueue(ECHO, "--timeout", "30"))["job_timeout"] == 30
    assert cli.job(cli.enqueue(ECHO, "--timeout", "0.5"))["job_timeout"] == 0.5


def test_every_option_at_once(cli: Cli) -> None:
    job_id = cli.enqueue(
        ECHO, "1", '"two"', "--kwargs", '{"k": [3]}', "-q", "low", "--in", "1h",
        "--job-id", "all-options", "--retry", "1", "--retry-interval", "2.5", "--timeout", "7",
    )  # fmt: skip
    job = cli.job(job_id)
    assert job_id == "all-options"
    assert {k: job[k] for k in ("args", "kwargs", "queue", "status", "retries_left")} == {
        "args": [1, "two"],
        "kwargs": {"k": [3]},
        "queue": "low",
        "status": "scheduled",
        "retries_left": 1,
    }
    assert (job["retry_intervals"], job["job_timeout"]) == ([2.5], 7)
    assert job["description"] == "tests.jobs.sample.echo(1, 'two', k=[3])"


def test_the_function_is_not_imported_at_enqueue(cli: Cli) -> None:
    """Enqueueing names a function; only the worker imports it."""
    job_id = cli.enqueue("tests.jobs.explodes_on_import.never")
    assert cli.job(job_id)["func_name"] == "tests.jobs.explodes_on_import.never"


def test_payload_within_the_limit_is_accepted(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBLANE_MAX_PAYLOAD", "4096")
    job_id = cli.enqueue(ECHO, '"' + "x" * 1000 + '"')
    assert cli.job(job_id)["args"] == ["x" * 1000]
