"""JSON encoding of job arguments, results and metadata (orjson).

JSON is the only serializer: what cannot be carried as JSON is refused with a
:class:`~joblane.errors.SerializationError` (a ``TypeError``) that names the
value's place and type, e.g. ``argument 1 ('tags', a set)``. Datetimes and
dataclasses are refused rather than silently turned into strings or objects,
so that what a job receives is what its caller passed. Tuples arrive as lists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from joblane.errors import SerializationError

_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)

loads = orjson.loads


def dumps(value: Any, what: str = "value") -> bytes:
    """Encode *value*; on failure name *what* and the offending part."""
    try:
        return orjson.dumps(value, option=_OPTIONS)
    except TypeError:
        raise SerializationError(_describe_failure(value, what)) from None


def encode_call(args: Sequence[Any], kwargs: Mapping[str, Any], func_name: str = "") -> bytes:
    """Encode a job's call as ``{"args": [...], "kwargs": {...}}``.

    Raises SerializationError naming the first argument JSON cannot carry.
    """
    try:
        return orjson.dumps({"args": args, "kwargs": kwargs}, option=_OPTIONS)
    except TypeError:
        pass
    target = f" of {func_name}" if func_name else ""
    for index, arg in enumerate(args):
        _check(arg, f"argument {index}{target}")
    for name, arg in kwargs.items():
        if not isinstance(name, str):
            raise SerializationError(f"keyword name {name!r}{target} is not a str")
        _check(arg, f"keyword argument {name!r}{target}")
    raise SerializationError(f"the arguments{target} are not JSON-serializable")  # pragma: no cover


def decode_call(payload: bytes) -> tuple[list[Any], dict[str, Any]]:
    """The inverse of :func:`encode_call`; raises ValueError unless the payload
    is exactly ``{"args": [...], "kwargs": {...}}`` (a part missing is an
    error, not an empty call: the function must not run without its arguments)."""
    data = orjson.loads(payload)
    if not isinstance(data, dict):
        raise ValueError("job payload is not a JSON object")
    if data.keys() != {"args", "kwargs"}:
        keys = ", ".join(repr(k)[:40] for k in sorted(data)[:5]) or "no key"
        raise ValueError(f"job payload must have exactly the keys 'args' and 'kwargs', not {keys}")
    args, kwargs = data["args"], data["kwargs"]
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise ValueError("job payload must hold an 'args' list and a 'kwargs' object")
    return args, kwargs


def _check(value: Any, what: str) -> None:
    try:
        orjson.dumps(value, option=_OPTIONS)
    except TypeError:
        raise SerializationError(_describe_failure(value, what)) from None


def _describe_failure(value: Any, what: str) -> str:
    path, bad = _find_unserializable(value, "")
    where = f" at {path}" if path else ""
    kind = type(bad).__name__
    return f"{what} is not JSON-serializable: {kind} value{where} ({_short_repr(bad)})"


def _find_unserializable(value: Any, path: str) -> tuple[str, Any]:
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path}[{key!r}] (key)", key
            try:
                orjson.dumps(item, option=_OPTIONS)
            except TypeError:
                return _find_unserializable(item, f"{path}[{key!r}]")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            try:
                orjson.dumps(item, option=_OPTIONS)
            except TypeError:
                return _find_unserializable(item, f"{path}[{index}]")
    return path, value


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
