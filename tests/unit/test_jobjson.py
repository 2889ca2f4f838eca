"""core.jobjson: the one function that writes a job as JSON, for Job.to_dict
and for the monitor's job shape."""

from __future__ import annotations

import pytest

from joblane.core.job import JobOptions, JobRecord, new_job
from joblane.core.jobjson import JOB_DICT_FIELDS, job_json
from joblane.core.states import JobStatus
from joblane.monitor.schemas import JOB_FIELDS
from joblane.monitor.schemas import job_json as monitor_job_json

NOW = 1_767_225_600.0


def record(**changes: object) -> JobRecord:
    job = new_job("normal", "pkg.mod.f", [1, "a"], {"k": [2]}, JobOptions(job_id="j1"), now=NOW)
    return job.copy(**changes)


def test_the_monitor_shows_the_values_of_to_dict_under_its_own_keys() -> None:
    job = record(status=JobStatus.FINISHED, ended=NOW + 3, result=b'{"ok": 1}', worker_name="w")
    every = job_json(job)
    assert list(every) == list(JOB_DICT_FIELDS)
    shown = monitor_job_json(job)
    assert list(shown) == list(JOB_FIELDS)
    assert shown == {key: every[key] for key in JOB_FIELDS}
    assert every["description"] == "pkg.mod.f(1, 'a', k=[2])"
    assert every["return_value"] == {"ok": 1} and every["ended"] == "2026-01-01T00:00:03"


def test_tolerant_names_what_does_not_decode_and_strict_raises_it() -> None:
    bad = record(payload=b"{not json", ended=1e30)
    shown = job_json(bad, ("id", "args", "description", "ended"))
    assert shown["args"] == [] and shown["description"] == "pkg.mod.f(?)"
    assert shown["ended"] is None
    assert "payload" in shown["undecodable"]
    with pytest.raises(ValueError):
        job_json(bad, tolerant=False)


def test_only_the_asked_keys_are_decoded() -> None:
    # A bad start time is no problem for the monitor, which does not show it.
    assert "undecodable" not in job_json(record(started=1e30), JOB_FIELDS)
    assert "started" in job_json(record(started=1e30))["undecodable"]
