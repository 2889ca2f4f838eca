"""JSON encoding of calls and values (joblane.core.serialization)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import math
from typing import Any

import pytest

from joblane.core.serialization import MAX_DEPTH, decode_call, dumps, encode_call, loads
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


class Level(float, enum.Enum):
    UNKNOWN = math.nan


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        ([math.nan], {}, "argument 0 of pkg.f is not JSON-serializable: float value (nan)"),
        ([1, [0.5, math.inf]], {}, "argument 1 of pkg.f is not JSON-serializable: float value "
         "at [1] (inf)"),
        ([], {"data": {"a": [{"b": -math.inf}]}}, "keyword argument 'data' of pkg.f is not "
         "JSON-serializable: float value at ['a'][0]['b'] (-inf)"),
        ([None, "null", (float("1e400"),)], {}, "argument 2 of pkg.f is not JSON-serializable: "
         "float value at [0] (inf)"),
        ([Level.UNKNOWN], {}, "argument 0 of pkg.f is not JSON-serializable: float value (nan)"),
    ],
)  # fmt: skip
def test_nan_and_infinity_are_refused_with_their_path(
    args: list[Any], kwargs: dict[str, Any], expected: str
) -> None:
    # orjson writes them as null: the job would receive None.
    with pytest.raises(SerializationError) as info:
        encode_call(args, kwargs, "pkg.f")
    assert str(info.value) == expected + "; JSON has no NaN or Infinity"


@pytest.mark.parametrize("value", [math.nan, [1, {"x": math.inf}], (-math.inf,)])
def test_dumps_refuses_nan_and_infinity(value: Any) -> None:
    with pytest.raises(SerializationError, match=r"^meta is not JSON-serializable: float value"):
        dumps(value, "meta")


@pytest.mark.parametrize(
    "value",
    [None, "null", "nullable unusual", [None, 1.5, {"u": None}], {"k": [0.0, -0.0, 1e308]}],
)
def test_null_and_finite_floats_still_encode(value: Any) -> None:
    assert loads(dumps(value)) == value
    assert decode_call(encode_call([value], {"v": value})) == ([value], {"v": value})


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def cyclic() -> dict[str, Any]:
    value: dict[str, Any] = {"a": [1]}
    value["a"].append(value)
    return value


@pytest.mark.parametrize("value", [nested(5000), nested(MAX_DEPTH), cyclic()])
def test_deep_and_cyclic_values_are_refused_with_a_typed_error(value: Any) -> None:
    expected = "levels or contains itself"
    with pytest.raises(SerializationError) as info:
        encode_call([1, 2], {"tree": value}, "pkg.f")
    assert str(info.value) == (
        f"keyword argument 'tree' of pkg.f is not JSON-serializable: it is nested deeper "
        f"than 252 {expected}"
    )
    with pytest.raises(SerializationError) as info:
        dumps(value, "return value of pkg.f")
    assert str(info.value) == (
        f"return value of pkg.f is not JSON-serializable: it is nested deeper than 254 {expected}"
    )


def test_an_argument_too_deep_only_inside_the_call_is_named() -> None:
    value = nested(MAX_DEPTH - 1)  # MAX_DEPTH levels of lists: fine alone, not in a call
    assert loads(dumps(value)) == value
    with pytest.raises(SerializationError, match=r"^argument 1 is not JSON-serializable: it is "
                       "nested deeper than 252 levels"):  # fmt: skip
        encode_call([1, value], {})


def test_the_deepest_argument_allowed_round_trips() -> None:
    value = nested(MAX_DEPTH - 3)  # MAX_DEPTH - 2 levels of lists
    assert decode_call(encode_call([value], {})) == ([value], {})
