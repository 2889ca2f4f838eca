"""JSON encoding of calls and values (joblane.core.serialization)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from joblane.core.serialization import decode_call, dumps, encode_call, loads
from joblane.errors import JoblaneError, SerializationError


def test_round_trip() -> None:
    args = [1, "two", 3.5, None, True, [1, [2]], {"k": {"n": [1]}}]
    kwargs = {"a": "x", "b": [1, 2], "c": {"d": None}}
    assert decode_call(encode_call(args, kwargs)) == (args, kwargs)


def test_tuples_arrive_as_lists_and_unicode_survives() -> None:
    args, kwargs = decode_call(encode_call((1, (2, 3)), {"t": ("\u00e9", "\U0001f600")}))
    assert args == [1, [2, 3]]
    assert kwargs == {"t": ["\u00e9", "\U0001f600"]}


def test_encode_call_layout() -> None:
    assert loads(encode_call([1], {"b": 2})) == {"args": [1], "kwargs": {"b": 2}}


def test_serialization_error_is_a_type_error() -> None:
    assert issubclass(SerializationError, TypeError)
    assert issubclass(SerializationError, JoblaneError)


class Opaque:
    def __repr__(self) -> str:
        return "<Opaque>"


@dataclasses.dataclass
class Point:
    x: int


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        (
            [1, {1, 2}],
            {},
            "argument 1 of pkg.mod.func is not JSON-serializable: set value ({1, 2})",
        ),
        (
            [dt.datetime(2026, 1, 2, 3, 4, 5)],
            {},
            "argument 0 of pkg.mod.func is not JSON-serializable: datetime value "
            "(datetime.datetime(2026, 1, 2, 3, 4, 5))",
        ),
        (
            [],
            {"obj": Opaque()},
            "keyword argument 'obj' of pkg.mod.func is not JSON-serializable: "
            "Opaque value (<Opaque>)",
        ),
        (
            [],
            {"p": Point(1)},
            "keyword argument 'p' of pkg.mod.func is not JSON-serializable: "
            "Point value (Point(x=1))",
        ),
        (
            [b"raw"],
            {},
            "argument 0 of pkg.mod.func is not JSON-serializable: bytes value (b'raw')",
        ),
    ],
)
def test_encode_call_names_the_bad_argument(
    args: list[Any], kwargs: dict[str, Any], expected: str
) -> None:
    with pytest.raises(SerializationError) as info:
        encode_call(args, kwargs, "pkg.mod.func")
    assert str(info.value) == expected


def test_encode_call_names_the_path_of_a_nested_bad_value() -> None:
    value = {"user": {"tags": ["a", {"when": dt.date(2026, 1, 1)}]}}
    with pytest.raises(SerializationError) as info:
        encode_call([], {"data": value}, "pkg.f")
    message = str(info.value)
    assert message.startswith("keyword argument 'data' of pkg.f is not JSON-serializable")
    assert "date value at ['user']['tags'][1]['when']" in message


def test_encode_call_names_the_first_bad_positional_argument_and_its_path() -> None:
    with pytest.raises(SerializationError) as info:
        encode_call(["ok", [1, 2, (3, Opaque())]], {"later": {1, 2}})
    assert str(info.value) == (
        "argument 1 is not JSON-serializable: Opaque value at [2][1] (<Opaque>)"
    )


def test_non_str_dict_key_is_named() -> None:
    with pytest.raises(SerializationError) as info:
        encode_call([{"ok": 1, 2: "two"}], {}, "pkg.f")
    assert str(info.value) == (
        "argument 0 of pkg.f is not JSON-serializable: int value at [2] (key) (2)"
    )


def test_nested_non_str_dict_key_is_named_with_its_path() -> None:
    with pytest.raises(SerializationError) as info:
        encode_call([], {"m": {"a": {(1, 2): 3}}})
    assert "at ['a'][(1, 2)] (key)" in str(info.value)
    assert "tuple value" in str(info.value)


def test_non_str_keyword_name() -> None:
    with pytest.raises(SerializationError, match=r"keyword name 3 of pkg\.f is not a str"):
        encode_call([], {3: "x"}, "pkg.f")  # type: ignore[dict-item]


def test_long_reprs_are_shortened() -> None:
    with pytest.raises(SerializationError) as info:
        encode_call([set(range(1000))], {})
    message = str(info.value)
    assert message.endswith("...)")
    assert len(message) < 200


def test_dumps_names_what() -> None:
    assert dumps({"a": [1]}) == b'{"a":[1]}'
    with pytest.raises(SerializationError) as info:
        dumps({"x": {1}}, "return value of pkg.f")
    assert str(info.value) == (
        "return value of pkg.f is not JSON-serializable: set value at ['x'] ({1})"
    )


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[1, 2]",
        b'"args"',
        b"null",
        b'{"args": {}, "kwargs": {}}',
        b'{"args": [], "kwargs": []}',
        b'{"args": "ab"}',
        b'{"kwargs": 1}',
        b'{"args": [1], "kwargs": {}',
    ],
)
def test_decode_call_of_malformed_payloads(payload: bytes) -> None:
    with pytest.raises(ValueError):
        decode_call(payload)


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        (b"{}", "no key"),
        (b'{"args": [1]}', "'args'"),
        (b'{"kwargs": {}}', "'kwargs'"),
        (b'{"args": [], "kwargs": {}, "extra": 1}', "'extra'"),
    ],
)
def test_decode_call_refuses_a_payload_without_exactly_args_and_kwargs(
    payload: bytes, named: str
) -> None:
    # Not an empty call: the function must never run without its arguments.
    with pytest.raises(ValueError, match=rf"exactly the keys 'args' and 'kwargs', not .*{named}"):
        decode_call(payload)
