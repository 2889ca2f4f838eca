"""Running one job in-process (joblane.worker.executor.run_job)."""

from __future__ import annotations

import asyncio
import gc
import re
import sys
import threading
import warnings
from typing import Any

import pytest

import tests.jobs.sample  # registers the @job functions, as a worker's --import
from joblane.core.outcome import Outcome, OutcomeKind
from joblane.core.serialization import encode_call, loads
from joblane.tasks import AllowPolicy
from joblane.worker import executor
from joblane.worker.executor import JobContext, current_job, run_job

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
    assert not [path for path, _ in stack if "/joblane/" in path]


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

    monkeypatch.setattr(executor, "resolve", no_import)
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
