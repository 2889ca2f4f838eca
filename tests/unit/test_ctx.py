"""Jobs that take ctx first (``takes_context``) and the hooks around each job,
run in-process by run_job, as a slot runs them."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import pytest

import tests.jobs.ctxjobs  # registers the functions, as a worker's --import
from joblane.core.outcome import OutcomeKind
from joblane.core.serialization import encode_call, loads
from joblane.errors import InvalidJobError
from joblane.tasks import register, takes_context
from joblane.worker.lifecycle import Lifecycle
from joblane.worker.run import JobContext, SlotState, run_job

CTX = "tests.jobs.ctxjobs"


def run(name: str, *args: Any, slot: SlotState | None = None, **kwargs: Any) -> Any:
    context = JobContext("job-1", "normal", name, 3, {}, 1_700_000_000.5)
    return run_job(name, encode_call(args, kwargs), None, context, slot=slot)


def test_a_ctx_function_gets_the_job_keys_over_the_slot_ctx() -> None:
    slot = SlotState(ctx={"pool": "the pool", "job_id": "shadowed"})
    outcome = run(f"{CTX}.sync_about", 5, slot=slot)
    assert outcome.kind is OutcomeKind.SUCCEEDED, outcome.error
    about = loads(outcome.result or b"")
    assert (about["job_id"], about["job_try"], about["queue"]) == ("job-1", 3, "normal")
    when = datetime.fromisoformat(about["enqueue_time"])
    assert when == datetime.fromtimestamp(1_700_000_000.5, UTC) and when.tzinfo is not None
    assert about["value"] == 5
    assert slot.ctx == {"pool": "the pool", "job_id": "shadowed"}  # each job has its own copy


def test_a_ctx_coroutine_registered_without_the_decorator() -> None:
    assert takes_context(f"{CTX}.listed")
    outcome = run(f"{CTX}.listed", invoice_id=9)
    assert loads(outcome.result or b"")["invoice_id"] == 9


def test_a_ctx_function_not_registered_as_such_fails_with_a_clear_reason() -> None:
    outcome = run(f"{CTX}.send_invoice_email", invoice_id=9)
    assert outcome.kind is OutcomeKind.FAILED
    reason = outcome.error or ""
    assert reason.startswith("JobSignatureError: the job's arguments do not fit ")
    assert f"{CTX}.send_invoice_email(ctx: 'dict[str, Any]', invoice_id: 'int')" in reason
    assert "missing a required argument: 'ctx'" in reason
    assert "@job(takes_context=True)" in reason and "Traceback" not in reason


def test_a_type_error_raised_inside_a_job_stays_its_own_failure() -> None:
    outcome = run("tests.jobs.sample.add", 1, "x")  # binds; the TypeError is from the body
    assert (outcome.error or "").startswith("Traceback")
    assert "JobSignatureError" not in (outcome.error or "")


def test_wrong_arguments_to_a_plain_function_are_named_without_a_ctx_hint() -> None:
    outcome = run("tests.jobs.sample.add", 1, 2, 3)
    assert (outcome.error or "").startswith("JobSignatureError")
    assert "too many positional arguments" in (outcome.error or "")
    assert "takes_context" not in (outcome.error or "")


def test_job_hooks_run_around_the_job_with_its_ctx() -> None:
    seen: list[tuple[str, str]] = []

    def start(ctx: dict[str, Any]) -> None:
        seen.append(("start", ctx["job_id"]))
        ctx["hook_saw"] = "start"

    async def end(ctx: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        seen.append(("end", ctx["hook_saw"]))

    slot = SlotState(Lifecycle(on_job_start=start, on_job_end=end))
    outcome = run(f"{CTX}.sync_about", 1, slot=slot)
    assert loads(outcome.result or b"")["hook_saw"] == "start"
    assert seen == [("start", "job-1"), ("end", "start")]
    # A function without ctx runs between them too.
    assert run("tests.jobs.sample.add", 1, 2, slot=slot).result == b"3"
    assert seen[-2:] == [("start", "job-1"), ("end", "start")]


def test_a_failing_on_job_start_fails_the_attempt_without_running_the_job() -> None:
    ran: list[int] = []

    def start(ctx: dict[str, Any]) -> None:
        raise ConnectionError("pool exhausted")

    def end(ctx: dict[str, Any]) -> None:
        ran.append(1)

    slot = SlotState(Lifecycle(on_job_start=start, on_job_end=end))
    outcome = run(f"{CTX}.sync_about", 1, slot=slot)
    assert outcome.kind is OutcomeKind.FAILED and outcome.retryable
    assert (outcome.error or "").startswith("HookError: the worker's on_job_start hook ")
    assert "ConnectionError: pool exhausted; the job did not run" in (outcome.error or "")
    assert ran == []


def test_a_failing_on_job_end_is_logged_and_keeps_the_outcome(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def end(ctx: dict[str, Any]) -> None:
        raise RuntimeError("metrics down")

    with caplog.at_level(logging.ERROR, "joblane.worker"):
        outcome = run("tests.jobs.sample.add", 1, 2, slot=SlotState(Lifecycle(on_job_end=end)))
    assert outcome.result == b"3"
    assert "on_job_end hook" in caplog.text and "metrics down" in caplog.text


def test_register_checks_its_options() -> None:
    with pytest.raises(InvalidJobError, match="takes_context must be True or False"):
        register(tests.jobs.ctxjobs.plain, takes_context="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="on_startup must be a callable"):
        Lifecycle(on_startup="not callable")  # type: ignore[arg-type]


def test_register_keeps_what_a_job_declared_unless_replaced() -> None:
    from joblane.tasks import defaults_for, hooks_for, job

    def report(job: object, outcome: object) -> None:
        pass

    def declared(ctx: dict[str, Any]) -> None:
        pass

    declared.__module__, declared.__qualname__ = "tests.jobs.ctxjobs", "declared_for_register"
    name = "tests.jobs.ctxjobs.declared_for_register"
    job(job_timeout=7, on_failure=report)(declared)
    register(declared, takes_context=True)
    assert takes_context(name)
    options = defaults_for(name)
    assert options is not None and options.job_timeout == 7
    assert hooks_for(name).on_failure is report
    register(declared, job_timeout=9)  # what is not given stays
    options = defaults_for(name)
    assert options is not None and options.job_timeout == 9 and takes_context(name)
    assert hooks_for(name).on_failure is report
    register(declared, takes_context=False)
    assert not takes_context(name)
