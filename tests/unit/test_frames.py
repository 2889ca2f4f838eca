"""The slot pipe's frames (joblane.worker.frames): every kind round-trips, and
an outcome names its job so that several jobs of a slot may end in any order."""

from __future__ import annotations

import pytest

from joblane.core.outcome import Outcome
from joblane.worker import frames


@pytest.mark.parametrize(
    "outcome",
    [
        Outcome.success(b'{"a": [1, "\\u0000"]}'),
        Outcome.success(b"null"),
        Outcome.retry_in(1.25, "RetryJob: later"),
        Outcome.failure("KeyError: 'x'", retryable=False),
        Outcome.failure("é\x00boom", retryable=True),
    ],
)
def test_an_outcome_frame_names_its_job(outcome: Outcome) -> None:
    frame = frames.encode_outcome("a-Job_1", outcome)
    assert not frames.is_control(frame)
    assert frames.decode_outcome(frame) == ("a-Job_1", outcome)


def test_outcomes_of_several_jobs_decode_in_any_order() -> None:
    sent = {f"job{i}": Outcome.success(b"%d" % i) for i in range(5)}
    wire = [frames.encode_outcome(job_id, o) for job_id, o in reversed(sent.items())]
    assert dict(frames.decode_outcome(f) for f in wire) == sent


def test_a_cancel_frame_is_control_and_carries_the_job_id() -> None:
    frame = frames.encode_cancel("job-42")
    assert frames.is_control(frame)
    assert frames.decode_cancel(frame) == "job-42"
    assert frames.decode_cancel(frames.READY) is None


def test_startup_frames() -> None:
    assert frames.is_control(frames.READY)
    assert frames.decode_startup(frames.READY) is None
    failure = frames.encode_startup_failure("on_startup hook m.f raised RuntimeError: é")
    assert frames.is_control(failure)
    assert frames.decode_startup(failure) == "on_startup hook m.f raised RuntimeError: é"
    assert "before it was ready" in (frames.decode_startup(b"job\x00S1") or "")
