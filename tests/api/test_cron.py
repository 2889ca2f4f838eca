"""``joblane.cron(...)``: a schedule is checked when declared, as an enqueue is."""

from __future__ import annotations

from typing import Any

import pytest

from joblane import InvalidJobError, InvalidScheduleError, Retry, Schedule, SerializationError, cron
from joblane.core.cron import CronSpec, Missed
from joblane.schedules import META_KEY
from tests.jobs import sample


def test_arq_style_and_crontab_style() -> None:
    nightly = cron(sample.add, hour=3, minute=0, args=(1, 2))
    assert nightly == Schedule(
        "tests.jobs.sample.add", "tests.jobs.sample.add", CronSpec("0 3 * * *"), (1, 2), {}
    )
    line = cron("tests.jobs.sample.add", "0  3 * * *", kwargs={"b": 2}, args=(1,),
                timezone="Europe/Paris", queue="low", retry=3, job_timeout=60,
                missed="run_once", grace=5, name="nightly")  # fmt: skip
    assert (line.name, str(line.spec), line.spec.timezone, line.queue) == (
        "nightly",
        "0 3 * * *",
        "Europe/Paris",
        "low",
    )
    assert (line.missed, line.grace, line.options) == (
        Missed.RUN_ONCE,
        5.0,
        {"retry": 3, "job_timeout": 60},
    )


def test_a_tick_s_job_carries_the_call_options_and_its_tick() -> None:
    schedule = cron(sample.add, "* * * * *", args=(1, 2), queue="low", retry=Retry(max=2),
                    meta={"team": "billing"})  # fmt: skip
    job = schedule.job(1_767_225_600.0, 1_767_225_601.0)
    assert (job.queue, job.func_name, job.retries_left, job.created) == (
        "low",
        "tests.jobs.sample.add",
        2,
        1_767_225_601.0,
    )
    assert job.meta == {"team": "billing", META_KEY: {"schedule": "tests.jobs.sample.add",
                                                      "tick": 1_767_225_600.0}}  # fmt: skip
    assert schedule.job(1.0, 2.0).id != schedule.job(1.0, 2.0).id


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: cron(sample.add, "0 3 * * *", hour=3), InvalidScheduleError, "not both"),
        (lambda: cron(sample.add, 5), InvalidScheduleError, "a crontab line such as"),  # type: ignore[arg-type]
        (lambda: cron(sample.add, "0 3 * *"), InvalidScheduleError, "invalid cron expression"),
        (lambda: cron(sample.add, hour=3, job_id="x"), InvalidScheduleError, "cannot take job_id"),
        (lambda: cron(sample.add, hour=3, unique=True), InvalidScheduleError, "cannot take unique"),
        (
            lambda: cron(sample.add, hour=3, meta={META_KEY: 1}),
            InvalidScheduleError,
            "is set by the schedule",
        ),
        (
            lambda: cron(sample.add, hour=3, missed="later"),
            InvalidScheduleError,
            "missed must be one of skip, run_once",
        ),
        (lambda: cron(sample.add, hour=3, grace=-1), InvalidScheduleError, "grace must be"),
        (
            lambda: cron(sample.add, hour=3, name="a b"),
            InvalidScheduleError,
            "invalid schedule name 'a b'",
        ),
        (lambda: cron(sample.add, hour=3, args=(object(),)), SerializationError, "object"),
        (lambda: cron(sample.add, hour=3, job_timeout=-5), InvalidJobError, "job_timeout"),
        (lambda: cron(sample.add, hour=3, colour="red"), InvalidJobError, "unknown job option"),
        (lambda: cron(lambda: None, hour=3), InvalidJobError, "lambda"),
    ],
)
def test_bad_schedules_are_refused_when_declared(
    call: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        call()
