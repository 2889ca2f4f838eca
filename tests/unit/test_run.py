"""Running one job in-process (joblane.worker.run.run_job)."""

from __future__ import annotations

import asyncio
import gc
import re
import sys
import threading
import warnings
from pathlib import Path
from typing import Any

import pytest

import joblane
import tests.jobs.sample  # registers the @job functions, as a worker's --import
from joblane.core.limits import DEFAULT_MAX_RESULT
from joblane.core.outcome import Outcome, OutcomeKind
from joblane.core.serialization import encode_call, loads
from joblane.tasks import AllowPolicy
from joblane.worker import run
from joblane.worker.run import JobContext, current_job, run_job

ONLY_REGISTERED = AllowPolicy()
EXPLODES = "tests.jobs.explodes_on_import.never"


def call(*args: Any, **kwargs: Any) -> bytes:
    return encode_call(args, kwargs)


def frames(text: str) -> list[tuple[str, str]]:
    """The ``File "...", line N, in f`` lines of a formatted traceback."""
    return re.findall(r'^  File "([^"]+)", line \d+, in (\S+)$', text, re.MULTILINE)


def test_success() -> None:
    outcome = run_job("tests.jobs.sample.add", call(1, b=2), ONLY_REGISTERED)
    assert outcome == Outcome(OutcomeKind.SUCCEEDED, result=b"3")


def test_arguments_arrive_as_json_values() -> None:
    outcome = run_job("tests.jobs.sample.echo", call((1, 2), k={"a": None}), None)
    assert outcome.kind is OutcomeKind.SUCCEEDED
    assert loads(outcome.result or b"") == {"args": [[1, 2]], "kwargs": {"k": {"a": None}}}


def test_none_result_is_json_null() -> None:
    assert run_job("tests.jobs.sample.noop", call(), None).result == b"null"


def test_exception_is_a_retryable_failure_with_the_traceback() -> None:
    outcome = run_job("tests.jobs.sample.fail", call("kaput"), ONLY_REGISTERED)
    assert outcome.kind is OutcomeKind.FAILED
    assert outcome.retryable is True
    assert outcome.result is None
    error = outcome.error or ""
    assert error.startswith("Traceback (most recent call last):\n")
    assert error.endswith("RuntimeError: kaput\n")
    stack = frames(error)
    assert stack[0][0].endswith("/tests/jobs/sample.py")
    assert stack[0][1] == "fail"
    package = str(Path(joblane.__file__).parent)  # joblane's own frames, wherever it is cloned
    assert not [path for path, _ in stack if path.startswith(package)]


def test_system_exit_in_a_job_is_its_failure() -> None:
    outcome = run_job("sys.exit", call(3), None)
    assert outcome.kind is OutcomeKind.FAILED
    assert (outcome.error or "").strip() == "SystemExit: 3"


def test_coroutine_function() -> None:
    outcome = run_job("tests.jobs.sample.async_add", call(2, 5), ONLY_REGISTERED)
    assert outcome == Outcome.success(b"7")


def test_coroutine_function_failure() -> None:
    outcome = run_job("tests.jobs.sample.async_fail", call("late"), ONLY_REGISTERED)
    assert outcome.kind is OutcomeKind.FAILED
    assert outcome.retryable is True
    assert (outcome.error or "").endswith("ValueError: late\n")
    assert ("tests/jobs/sample.py" in (outcome.error or "")) is True


def test_coroutine_failure_traceback_starts_in_the_job() -> None:
    error = run_job("tests.jobs.sample.async_fail", call(), ONLY_REGISTERED).error or ""
    assert "During handling of the above exception" not in error
    assert "no running event loop" not in error
    stack = frames(error)
    assert stack[0] == (stack[0][0], "async_fail")
    assert stack[0][0].endswith("/tests/jobs/sample.py")


def test_coroutine_function_called_from_a_running_event_loop() -> None:
    async def main() -> Outcome:
        return run_job("tests.jobs.sample.async_add", call(1, 1), ONLY_REGISTERED)

    assert asyncio.run(main()) == Outcome.success(b"2")


def test_coroutine_failure_from_a_running_event_loop() -> None:
    async def main() -> Outcome:
        return run_job("tests.jobs.sample.async_fail", call("inside"), ONLY_REGISTERED)

    outcome = asyncio.run(main())
    assert outcome.kind is OutcomeKind.FAILED
    assert (outcome.error or "").endswith("ValueError: inside\n")


def test_current_job_in_successive_coroutine_jobs() -> None:
    seen = [
        run_job(
            "tests.jobs.sample.async_whoami",
            call(),
            None,
            JobContext(job_id, "normal", "tests.jobs.sample.async_whoami", 1),
        ).result
        for job_id in ("first", "second")
    ]
    assert seen == [b'"first"', b'"second"']


def test_coroutine_job_in_a_short_lived_thread_closes_its_loop() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        thread = threading.Thread(
            target=run_job, args=("tests.jobs.sample.async_add", call(1, 2), None)
        )
        thread.start()
        thread.join()
        gc.collect()
    leaks = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert not leaks, [str(w.message) for w in leaks]


def test_function_not_allowed_is_refused_without_importing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_import(name: str) -> Any:
        raise AssertionError(f"resolve({name!r}) was called")

    monkeypatch.setattr(run, "resolve", no_import)
    outcome = run_job(EXPLODES, call(), ONLY_REGISTERED)
    assert outcome.kind is OutcomeKind.FAILED
    assert outcome.retryable is False
    error = outcome.error or ""
    assert error.startswith(f"FunctionNotAllowedError: {EXPLODES!r} is not allowed")
    assert "was imported" not in error
    assert "tests.jobs.explodes_on_import" not in sys.modules


def test_function_not_allowed_by_prefix_boundary() -> None:
    policy = AllowPolicy.from_prefixes(["tests.jobs.explodes"])
    outcome = run_job(EXPLODES, call(), policy)
    assert (outcome.error or "").startswith("FunctionNotAllowedError")
    assert "prefixes tests.jobs.explodes" in (outcome.error or "")


def test_unmarked_function_is_refused_by_a_worker_policy() -> None:
    outcome = run_job("tests.jobs.sample.not_marked", call(1), ONLY_REGISTERED)
    assert (outcome.error or "").startswith("FunctionNotAllowedError")
    assert run_job("tests.jobs.sample.not_marked", call(1), None) == Outcome.success(b"1")


def test_allowed_by_prefix_but_import_fails() -> None:
    outcome = run_job(EXPLODES, call(), AllowPolicy.from_prefixes(["tests.jobs"]))
    assert outcome.kind is OutcomeKind.FAILED
    assert outcome.error == (
        f"FunctionImportError: cannot import {EXPLODES!r}: "
        "RuntimeError: tests.jobs.explodes_on_import was imported"
    )


def test_import_failure_names_the_function_and_the_missing_module() -> None:
    name = "tests.jobs.needs_missing_dep.run"
    outcome = run_job(name, call(), None)
    error = outcome.error or ""
    assert error.startswith(f"FunctionImportError: cannot import {name!r}: ModuleNotFoundError")
    assert "joblane_tests_no_such_dependency" in error


@pytest.mark.parametrize(
    ("name", "detail"),
    [
        ("tests.jobs.sample.missing", "AttributeError"),
        ("joblane_no_such_module.f", "ImportError: no module found"),
    ],
)
def test_unresolvable_names(name: str, detail: str) -> None:
    error = run_job(name, call(), None).error or ""
    assert error.startswith(f"FunctionImportError: cannot import {name!r}: {detail}")


@pytest.mark.parametrize("payload", [b"\xff", b"[]", b'{"args": 1}', b""])
def test_bad_payload_is_a_decode_error_not_retried(payload: bytes) -> None:
    outcome = run_job("tests.jobs.sample.add", payload, ONLY_REGISTERED)
    assert outcome.kind is OutcomeKind.FAILED
    assert outcome.retryable is False
    assert (outcome.error or "").startswith(
        "PayloadDecodeError: the job's arguments could not be decoded: "
    )


@pytest.mark.parametrize("payload", [b"{}", b'{"kwargs": {}}', b'{"args": []}'])
def test_a_payload_without_args_or_kwargs_does_not_run_the_function(payload: bytes) -> None:
    # noop would succeed if it were called with no arguments.
    outcome = run_job("tests.jobs.sample.noop", payload, ONLY_REGISTERED)
    assert (outcome.kind, outcome.retryable) == (OutcomeKind.FAILED, False)
    assert (outcome.error or "").startswith("PayloadDecodeError: ")
    assert "exactly the keys 'args' and 'kwargs'" in (outcome.error or "")


def test_unserializable_result() -> None:
    outcome = run_job("tests.jobs.sample.unserializable_result", call(), ONLY_REGISTERED)
    assert outcome.kind is OutcomeKind.FAILED
    assert outcome.retryable is False
    assert outcome.error == (
        "ResultSerializationError: return value of tests.jobs.sample.unserializable_result "
        "is not JSON-serializable: set value ({1, 2, 3})"
    )


def test_current_job_inside_a_job_and_none_outside() -> None:
    assert current_job() is None
    context = JobContext("job-1", "low", "tests.jobs.sample.whoami", 2)
    outcome = run_job("tests.jobs.sample.whoami", call(), ONLY_REGISTERED, context)
    assert loads(outcome.result or b"") == {"id": "job-1", "queue": "low", "attempt": 2}
    assert current_job() is None


def test_current_job_is_none_without_a_context() -> None:
    assert run_job("tests.jobs.sample.whoami_or_none", call(), None).result == b"null"


def test_current_job_is_reset_after_a_failure() -> None:
    context = JobContext("job-2", "normal", "tests.jobs.sample.fail", 1)
    assert run_job("tests.jobs.sample.fail", call(), None, context).kind is OutcomeKind.FAILED
    assert current_job() is None


def test_current_job_in_a_coroutine_job_of_a_running_loop() -> None:
    context = JobContext("job-3", "normal", "tests.jobs.sample.async_whoami", 1)

    async def main() -> Outcome:
        return run_job("tests.jobs.sample.async_whoami", call(), None, context)

    assert asyncio.run(main()).result == b'"job-3"'
    assert current_job() is None


def test_current_job_is_per_thread() -> None:
    key = "executor-current-job-per-thread"
    context = JobContext("job-4", "normal", "tests.jobs.sample.hold", 1)
    outcomes: list[Outcome] = []
    thread = threading.Thread(
        target=lambda: outcomes.append(run_job("tests.jobs.sample.hold", call(key), None, context))
    )
    thread.start()
    try:
        assert tests.jobs.sample.gate(key + ":running").wait(5)
        # The job is blocked in the other thread; this thread runs no job.
        assert current_job() is None
    finally:
        tests.jobs.sample.gate(key).set()
        thread.join(5)
    assert outcomes == [Outcome.success(b"true")]


def test_a_result_at_the_limit_is_kept() -> None:
    outcome = run_job("tests.jobs.sample.sized_result", call(1000), None, max_result=1000)
    assert outcome.kind is OutcomeKind.SUCCEEDED
    assert outcome.result == b'"' + b"x" * 998 + b'"'


def test_a_result_over_the_limit_is_replaced_by_a_marker_and_the_job_succeeds() -> None:
    outcome = run_job("tests.jobs.sample.sized_result", call(1001), None, max_result=1000)
    assert outcome.kind is OutcomeKind.SUCCEEDED
    assert loads(outcome.result or b"") == {
        "joblane": "result-dropped",
        "reason": "the return value encodes to 1001 bytes, over the limit of 1000 bytes "
        "(JOBLANE_MAX_RESULT)",
        "bytes": 1001,
    }


def test_the_result_limit_defaults_to_1_mib_and_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert DEFAULT_MAX_RESULT == 1024 * 1024
    big = run_job("tests.jobs.sample.sized_result", call(DEFAULT_MAX_RESULT + 1), None)
    assert loads(big.result or b"")["bytes"] == DEFAULT_MAX_RESULT + 1
    kept = run_job("tests.jobs.sample.sized_result", call(DEFAULT_MAX_RESULT), None)
    assert len(kept.result or b"") == DEFAULT_MAX_RESULT
    monkeypatch.setenv("JOBLANE_MAX_RESULT", "10")
    small = run_job("tests.jobs.sample.sized_result", call(11), None)
    assert loads(small.result or b"")["joblane"] == "result-dropped"
    monkeypatch.setenv("JOBLANE_MAX_RESULT", "lots")
    bad = run_job("tests.jobs.sample.sized_result", call(11), None)
    assert bad.kind is OutcomeKind.FAILED
    assert (
        bad.error == "ConfigurationError: JOBLANE_MAX_RESULT must be a number of bytes, not 'lots'"
    )


@pytest.mark.parametrize("which", ["nan", "inf", "-inf"])
def test_a_nan_or_infinite_result_fails_the_job_not_retried(which: str) -> None:
    # orjson wrote them as null: the job finished with None as its result.
    outcome = run_job("tests.jobs.sample.non_finite_result", call(which), None)
    assert outcome.kind is OutcomeKind.FAILED
    assert outcome.retryable is False
    assert outcome.error == (
        "ResultSerializationError: return value of tests.jobs.sample.non_finite_result is not "
        f"JSON-serializable: float value at ['values'][1] ({float(which)!r}); JSON has no NaN "
        "or Infinity"
    )


def test_a_too_deep_result_fails_the_job_not_the_process() -> None:
    # The path search raised RecursionError out of run_job, killing a worker's slot.
    outcome = run_job("tests.jobs.sample.deep_result", call(5000), None)
    assert outcome.kind is OutcomeKind.FAILED
    assert outcome.retryable is False
    assert (outcome.error or "").endswith("it is nested deeper than 254 levels or contains itself")


# -- Retry(on=...) and RetryJob (issue 10) -------------------------------------


def test_retry_job_ends_the_attempt_as_a_retry_after_its_defer(tmp_path: Any) -> None:
    outcome = run_job("tests.jobs.sample.retry_later", call(str(tmp_path / "log"), 2.5),
                      ONLY_REGISTERED)  # fmt: skip
    assert outcome.kind is OutcomeKind.FAILED
    assert outcome.defer == 2.5
    assert outcome.error == "RetryJob: the job asked to be retried in 2.5 s"


@pytest.mark.parametrize(
    ("kind", "retryable"), [("TimeoutError", True), ("Transient", True), ("KeyError", False)]
)
def test_an_exception_not_in_retry_on_is_not_retryable(
    tmp_path: Any, kind: str, retryable: bool
) -> None:
    outcome = run_job("tests.jobs.sample.fail_as", call(str(tmp_path / "log"), kind),
                      ONLY_REGISTERED)  # fmt: skip
    assert outcome.kind is OutcomeKind.FAILED
    assert outcome.retryable is retryable
    assert kind in (outcome.error or "")


def test_a_function_without_retry_on_retries_every_exception() -> None:
    outcome = run_job("tests.jobs.sample.fail", call("x"), ONLY_REGISTERED)
    assert outcome.retryable is True
