"""``joblane worker --schedules MODULE:NAME``: bad names fail at start, with one line."""

from __future__ import annotations

import pytest

from tests.cli.conftest import run_joblane


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("tests.jobs.sample:add", "is not a Schedule or a list of them"),
        ("tests.jobs.ticks", "is not of the form package.module:name"),
        ("tests.jobs.no_such_module:X", "cannot load 'tests.jobs.no_such_module:X'"),
        ("tests.jobs.ticks:NOTHING", "cannot load 'tests.jobs.ticks:NOTHING'"),
    ],
)
def test_a_bad_schedules_option_stops_the_worker_at_start(
    db_url: str, spec: str, message: str
) -> None:
    done = run_joblane("--url", db_url, "worker", "--burst", "--schedules", spec)
    assert done.returncode == 2, done
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_two_lists_with_one_schedule_name_are_refused(db_url: str) -> None:
    done = run_joblane("--url", db_url, "worker", "--burst", "--schedules",
                       "tests.jobs.ticks:EVERY_SECOND", "--schedules",
                       "tests.jobs.ticks:EVERY_SECOND")  # fmt: skip
    assert done.returncode == 1, done
    assert "two schedules are called 'every-second'" in done.stderr
    assert "Traceback" not in done.stderr
