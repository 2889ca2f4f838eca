"""The encodings the persistent backends share (joblane.backends.encoding),
read back by joblane.backends.decoding."""

from __future__ import annotations

from joblane.backends import decoding
from joblane.backends.base import WorkerInfo
from joblane.backends.encoding import (
    joined_ids,
    json_ids,
    json_text,
    meta_json,
    split_ids,
    worker_fields,
)

INFO = WorkerInfo("w1", "host", 42, ("high", "low"), 4, 1.0, 2.5, 32.5, ("a", "b"), "idle")


def test_a_worker_registration_round_trips_as_fields_and_as_json_text() -> None:
    assert decoding.worker_info(worker_fields(INFO)) == INFO
    as_text = {**worker_fields(INFO), "queues": json_ids(INFO.queues),
               "current_jobs": json_ids(INFO.current_jobs)}  # fmt: skip
    assert decoding.worker_info(as_text, json_lists=True) == INFO


def test_lists_and_meta_are_stored_as_json_or_not_at_all() -> None:
    assert json_text(()) is None and meta_json({}) is None
    assert decoding.json_numbers(json_text((1, 2.5))) == (1, 2.5)
    assert decoding.json_strings(json_text(("a", "b"))) == ("a", "b")
    assert decoding.json_object(meta_json({"k": [1]})) == {"k": [1]}


def test_joined_ids_split_back() -> None:
    assert split_ids(joined_ids(("a", "b-c"))) == ("a", "b-c")
    assert split_ids(joined_ids(())) == ()
