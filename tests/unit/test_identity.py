"""Identities: validation, capture (acting_as, the provider), the slot frame,
and run_job restoring the enqueuer around the job."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import tests.jobs.identity  # registers the @job functions, as a worker's --import
import tests.jobs.sample
from joblane.core.identity import (
    MAX_IDENTITY_BYTES,
    MAX_USER_ID,
    Identity,
    identity_bytes,
    identity_from_json,
    make_identity,
)
from joblane.core.job import JobOptions, new_job
from joblane.core.outcome import OutcomeKind
from joblane.core.serialization import encode_call, loads
from joblane.errors import IdentityError, InvalidJobError
from joblane.identity import acting_as, capture, set_provider
from joblane.tasks import AllowPolicy
from joblane.worker.frames import decode_job, encode_job
from joblane.worker.run import JobContext, job_context, run_job

WHO = "tests.jobs.identity.who"
ALLOW = AllowPolicy()


@pytest.fixture(autouse=True)
def no_provider() -> Iterator[None]:
    yield
    set_provider(None)


def test_an_identity_keeps_its_user_and_context_as_json() -> None:
    identity = make_identity("alice", {"site": "/plone", "n": 3, "f": 0.5, "b": True, "z": None})
    assert identity_from_json(identity_bytes(identity)) == identity
    assert identity.to_json() == {
        "user_id": "alice",
        "context": {"site": "/plone", "n": 3, "f": 0.5, "b": True, "z": None},
    }


@pytest.mark.parametrize(
    ("user_id", "context", "reason"),
    [
        (42, None, "the user id 42 must be a str, not int"),
        ("", None, "the user id '' must be 1 to 256 characters"),
        ("u" * (MAX_USER_ID + 1), None, "must be 1 to 256 characters"),
        ("bob", ["site"], "the context of user 'bob' must be a dict, not list"),
        ("bob", {1: "x"}, "the context of user 'bob' has a key that is not a str: 1"),
        ("bob", {"user": object()}, "the context of user 'bob' has user=<object"),
        ("bob", {"path": ["a"]}, "has path=['a']: a context value must be a str, int"),
        ("bob", {"x": float("nan")}, "has x=nan"),
        ("bob", {"n": 2**70}, "the context of user 'bob' cannot be stored"),
        ("bob", {"big": "x" * MAX_IDENTITY_BYTES}, f"over the limit of {MAX_IDENTITY_BYTES}"),
    ],
)
def test_a_bad_identity_is_an_identity_error_naming_the_user(
    user_id: Any, context: Any, reason: str
) -> None:
    with pytest.raises(IdentityError, match=None) as caught:
        make_identity(user_id, context)
    assert reason in str(caught.value)
    assert isinstance(caught.value, InvalidJobError)  # refused at enqueue, as bad input


@pytest.mark.parametrize(
    "raw", [b"{{", b"[1]", b'{"user_id": 7}', b'{"user_id": "a", "x": 1}', b'{"context": {}}']
)
def test_a_stored_identity_that_does_not_decode_is_a_value_error(raw: bytes) -> None:
    with pytest.raises(ValueError):
        identity_from_json(raw)


def test_nothing_is_captured_without_acting_as_or_a_provider() -> None:
    assert capture() is None


def test_acting_as_captures_its_user_inside_the_block_only() -> None:
    with acting_as("alice", site="/plone") as identity:
        assert capture() == identity == Identity("alice", {"site": "/plone"})
        with acting_as("bob"):
            assert capture() == Identity("bob")
        assert capture() == identity
    assert capture() is None


def test_acting_as_a_bad_user_fails_at_once() -> None:
    with pytest.raises(IdentityError, match="the user id 3 must be a str"), acting_as(3):  # type: ignore[arg-type]
        pass


def test_the_provider_gives_the_identity_and_acting_as_overrides_it() -> None:
    set_provider(lambda: "carol")
    assert capture() == Identity("carol")
    set_provider(lambda: Identity("dave", {"site": "/a"}))
    assert capture() == Identity("dave", {"site": "/a"})
    with acting_as("erin"):
        assert capture() == Identity("erin")
    with acting_as(None):
        assert capture() is None  # a system job, on purpose
    set_provider(lambda: None)
    assert capture() is None


def test_a_provider_that_fails_or_gives_a_bad_identity_fails_the_capture() -> None:
    def broken() -> str:
        raise LookupError("no request")

    set_provider(broken)
    with pytest.raises(IdentityError, match=r"provider failed.*LookupError: no request"):
        capture()
    set_provider(lambda: Identity("frank", {"user": object()}))  # type: ignore[dict-item]
    with pytest.raises(IdentityError, match="the context of user 'frank' has user="):
        capture()
    set_provider(lambda: 12)  # type: ignore[arg-type,return-value]
    with pytest.raises(IdentityError, match="not int"):
        capture()
    with pytest.raises(IdentityError, match="must be callable"):
        set_provider("alice")  # type: ignore[arg-type]


def record(meta: dict[str, Any] | None = None, by: Identity | None = None) -> Any:
    return new_job("normal", WHO, [], {}, JobOptions(meta=meta), now=1_700_000_000.25,
                   enqueued_by=by)  # fmt: skip


@pytest.mark.parametrize(
    ("meta", "by"),
    [(None, None), ({"k": [1, "\x00"]}, None), (None, Identity("ann", {"site": "/s"})),
     ({"k": 1}, Identity("ann"))],
)  # fmt: skip
def test_the_slot_frame_carries_meta_time_and_identity(
    meta: dict[str, Any] | None, by: Identity | None
) -> None:
    job = record(meta, by)
    context, payload = decode_job(encode_job(job))
    assert context == job_context(job)
    assert context.meta == (meta or {}) and context.enqueued == 1_700_000_000.25
    assert context.enqueued_by == by
    assert payload == job.payload


def run(by: Identity | None, restore: Any = None, func: str = WHO) -> Any:
    context = JobContext("j1", "normal", func, 1, {"m": 1}, 5.0, by)
    return run_job(func, encode_call([], {}), ALLOW, context, restore=restore)


def test_a_job_runs_inside_the_restore_hook_and_knows_its_enqueuer() -> None:
    outcome = run(Identity("alice", {"site": "/plone"}), tests.jobs.identity.restore)
    assert outcome.kind is OutcomeKind.SUCCEEDED, outcome.error
    assert outcome.result is not None
    assert loads(outcome.result) == {
        "running_as": "alice",
        "enqueued_by": {"user_id": "alice", "context": {"site": "/plone"}},
        "meta": {"m": 1},
        "enqueued": 5.0,
        "attempt": 1,
    }
    assert tests.jobs.identity.USER.get() is None  # restored only around the job


def test_a_coroutine_job_runs_inside_the_restore_hook() -> None:
    outcome = run(Identity("alice"), tests.jobs.identity.restore, "tests.jobs.identity.who_async")
    assert outcome.result is not None, outcome.error
    assert loads(outcome.result) == {"running_as": "alice", "id": "j1"}


def test_a_job_without_identity_needs_no_hook() -> None:
    outcome = run(None)
    assert outcome.result is not None and loads(outcome.result)["running_as"] is None


def test_a_job_with_an_identity_fails_in_a_worker_without_a_hook() -> None:
    outcome = run(Identity("alice"))
    assert outcome.kind is OutcomeKind.FAILED and not outcome.retryable
    assert outcome.error is not None
    assert outcome.error.startswith("IdentityError: the job was enqueued by user 'alice'")
    assert "no identity hook" in outcome.error


def test_a_restore_that_refuses_the_user_fails_the_attempt_for_good() -> None:
    outcome = run(Identity("mallory"), tests.jobs.identity.restore)
    assert outcome.kind is OutcomeKind.FAILED and not outcome.retryable
    assert outcome.error == (
        "IdentityError: cannot run the job as user 'mallory': no such user in acl_users"
    )


def test_a_restore_that_breaks_fails_the_attempt_retryably() -> None:
    outcome = run(Identity("db-down"), tests.jobs.identity.restore)
    assert outcome.kind is OutcomeKind.FAILED and outcome.retryable
    assert outcome.error == (
        "IdentityError: cannot run the job as user 'db-down': "
        "ConnectionError: the user database is down"
    )


def test_a_job_that_fails_inside_the_hook_fails_as_any_job() -> None:
    context = JobContext("j1", "normal", "tests.jobs.sample.fail", 1, {}, 5.0, Identity("alice"))
    outcome = run_job("tests.jobs.sample.fail", encode_call(["boom"], {}), ALLOW, context,
                      restore=tests.jobs.identity.restore)  # fmt: skip
    assert outcome.kind is OutcomeKind.FAILED and outcome.retryable
    assert outcome.error is not None
    assert outcome.error.startswith("Traceback (most recent call last):\n  File")
    assert "run.py" not in outcome.error and "RuntimeError: boom" in outcome.error
