"""Queue name and job id validation (joblane.core.queues)."""

from __future__ import annotations

import pytest

from joblane.core.queues import (
    DEFAULT_QUEUES,
    JOB_ID_MAX,
    QUEUE_NAME_MAX,
    parse_queue_list,
    priority_order,
    validate_job_id,
    validate_queue_name,
)
from joblane.errors import InvalidJobError, InvalidJobIdError, InvalidQueueNameError


@pytest.mark.parametrize(
    "name",
    ["normal", "a", "A-Z_0.9", "emails.high", "x" * QUEUE_NAME_MAX, "-", "_tmp", "v1.2.3", "a."],
)
def test_valid_queue_names(name: str) -> None:
    assert validate_queue_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "x" * (QUEUE_NAME_MAX + 1),
        "a..b",
        "..",
        ".hidden",
        "a/b",
        "/",
        "bad name",
        " normal",
        "normal\n",
        "tab\tq",
        "caf\u00e9",
        "\u0661\u0662",  # Arabic-Indic digits: str.isdigit() but not ASCII
        "q:1",
        "q*",
        "q\x00",
    ],
)
def test_invalid_queue_names(name: str) -> None:
    with pytest.raises(InvalidQueueNameError) as info:
        validate_queue_name(name)
    assert type(info.value) is InvalidQueueNameError
    assert repr(name[:80]) in str(info.value)
    assert isinstance(info.value, ValueError)  # InvalidJobError is a ValueError


@pytest.mark.parametrize("value", [None, 1, b"normal", ["normal"], 1.5])
def test_queue_name_must_be_a_str(value: object) -> None:
    with pytest.raises(InvalidQueueNameError, match="must be a str") as info:
        validate_queue_name(value)
    assert type(info.value) is InvalidQueueNameError
    assert type(value).__name__ in str(info.value)
    assert repr(value) in str(info.value)


def test_queue_name_message_truncates_a_huge_value() -> None:
    name = "x" * 10_000
    with pytest.raises(InvalidQueueNameError) as info:
        validate_queue_name(name)
    assert repr("x" * 80) in str(info.value)
    assert len(str(info.value)) < 300


@pytest.mark.parametrize(
    "job_id", ["a", "abc123", "A_b-C", "x" * JOB_ID_MAX, "0" * 32, "-", "_", "f" * 32]
)
def test_valid_job_ids(job_id: str) -> None:
    assert validate_job_id(job_id) == job_id


@pytest.mark.parametrize(
    "job_id",
    [
        "",
        "x" * (JOB_ID_MAX + 1),
        "..",
        "a.b",  # '.' is allowed in queue names only
        "a/b",
        "../etc",
        "with space",
        "tr\u00e8s",
        "\u00b2",
        "id\n",
        "a:b",
        "a%2F",
    ],
)
def test_invalid_job_ids(job_id: str) -> None:
    with pytest.raises(InvalidJobIdError) as info:
        validate_job_id(job_id)
    # The value is named (a huge one by its first 80 characters).
    assert type(info.value) is InvalidJobIdError
    assert repr(job_id[:80]) in str(info.value)


@pytest.mark.parametrize("value", [None, 42, b"abc", ("a",)])
def test_job_id_must_be_a_str(value: object) -> None:
    with pytest.raises(InvalidJobIdError, match="must be a str") as info:
        validate_job_id(value)
    assert type(info.value) is InvalidJobIdError
    assert repr(value) in str(info.value)


def test_error_hierarchy() -> None:
    assert issubclass(InvalidQueueNameError, InvalidJobError)
    assert issubclass(InvalidJobIdError, InvalidJobError)
    assert issubclass(InvalidJobError, ValueError)


def test_priority_order_keeps_order_and_drops_duplicates() -> None:
    assert priority_order(["low", "important", "low", "normal"]) == ("low", "important", "normal")
    assert DEFAULT_QUEUES == ("important", "normal", "low")


def test_priority_order_needs_a_queue_and_valid_names() -> None:
    with pytest.raises(InvalidQueueNameError, match="at least one queue"):
        priority_order([])
    with pytest.raises(InvalidQueueNameError, match="'bad name'"):
        priority_order(["normal", "bad name"])


def test_parse_queue_list() -> None:
    assert parse_queue_list("important, normal,,low ") == ("important", "normal", "low")
    assert parse_queue_list(["a", " b "]) == ("a", "b")
    with pytest.raises(InvalidQueueNameError):
        parse_queue_list(" , ")
