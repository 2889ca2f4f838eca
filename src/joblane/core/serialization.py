"""JSON encoding of job arguments, results and metadata (orjson).

JSON is the only serializer: what cannot be carried as JSON is refused with a
:class:`~joblane.errors.SerializationError` (a ``TypeError``) that names the
value's place and type, e.g. ``argument 1 ('tags', a set)``. Datetimes and
dataclasses are refused rather than silently turned into strings or objects,
so that what a job receives is what its caller passed. Tuples arrive as lists.

Also refused, for the same reason: NaN, Infinity and -Infinity (orjson would
write them as ``null``, and the job would receive None), integers outside 64
bits, and values nested deeper than 254 levels or containing themselves.
Finding a non-finite float costs nothing on the usual path: orjson writes one
as ``null``, so only an encoding that contains ``null`` is walked to check.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any

import orjson

from joblane.errors import SerializationError

_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)

MAX_DEPTH = 254
"""The most levels of lists and objects a value may have (orjson's limit); an
argument, two levels down in its call's ``{"args": [...]}``, two less."""

loads = orjson.loads

_U = ord("u")
"""orjson writes NaN and Infinity as ``null``. An encoding without the byte
``u`` has no ``null``: ``_U in data`` is a memchr, ten times cheaper than
looking for ``b"null"``, so most encodings skip the walk and even the search."""


def dumps(value: Any, what: str = "value") -> bytes:
    """Encode *value*; on failure name *what* and the offending part."""
    try:
        data = orjson.dumps(value, option=_OPTIONS)
    except TypeError as error:
        raise SerializationError(_describe_failure(value, what, error)) from None
    if _U in data and b"null" in data:
        _refuse_non_finite(value, what)
    return data


def encode_call(args: Sequence[Any], kwargs: Mapping[str, Any], func_name: str = "") -> bytes:
    """Encode a job's call as ``{"args": [...], "kwargs": {...}}``.

    Raises SerializationError naming the first argument JSON cannot carry.
    """
    try:
        payload = orjson.dumps({"args": args, "kwargs": kwargs}, option=_OPTIONS)
    except TypeError:
        pass
    else:
        if not (_U in payload and b"null" in payload) or not _has_non_finite((args, kwargs)):
            # A copy of its exact size (b"%b" is the cheapest way to get one):
            # orjson's bytes keep their whole 4 KiB buffer, which a record holds
            # as long as it lives (an enqueue_many of 10,000 jobs: 40 MB).
            return b"%b" % payload
    target = f" of {func_name}" if func_name else ""
    for index, arg in enumerate(args):
        _check_argument(arg, f"argument {index}{target}")
    for name, arg in kwargs.items():
        if not isinstance(name, str):
            raise SerializationError(f"keyword name {name!r}{target} is not a str")
        _check_argument(arg, f"keyword argument {name!r}{target}")
    raise SerializationError(f"the arguments{target} are not JSON-serializable")  # pragma: no cover


_CALL_HEAD = b'{"args":'
_NO_KWARGS = b',"kwargs":{}}'
_SHORT_ARGS = 2 * (MAX_DEPTH - 4)
"""An args array encoded in fewer bytes nests fewer than MAX_DEPTH - 4 levels
(each level costs two brackets): far from orjson's limit, alone or in a call."""


def encode_calls(calls: Sequence[tuple[Any, Any]]) -> list[bytes] | None:
    """``encode_call(args, kwargs)`` of each call, when every one has a list or
    tuple of arguments, no keyword argument (an empty dict), and encodes to a
    short array, without NaN or Infinity; else None (then encode_call each, for
    its errors). Each array is encoded alone and put between the call's fixed
    parts, in one loop: about 0.15 us a call less than encode_call."""
    out: list[bytes] = []
    append = out.append
    encode, option = orjson.dumps, _OPTIONS
    head, tail, short = _CALL_HEAD, _NO_KWARGS, _SHORT_ARGS
    for args, kwargs in calls:
        kind = args.__class__
        if (kind is not tuple and kind is not list) or kwargs or kwargs.__class__ is not dict:
            return None
        try:
            data = encode(args, option=option)
        except TypeError:
            return None
        if len(data) >= short or (_U in data and b"null" in data):
            return None
        append(head + data + tail)
    return out


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


def _has_non_finite(value: Any) -> bool:
    """Whether *value* holds a NaN or an infinite float: a walk without recursion
    or paths, as cheap as it gets in Python. *value* was encoded by orjson, so it
    has no cycle and its containers are exactly dict, list or tuple (orjson
    refuses their subclasses with these options)."""
    stack = [value]
    pop, push, extend = stack.pop, stack.append, stack.extend
    while stack:
        item = pop()
        cls = item.__class__
        if cls is float:
            if item - item != 0.0:  # nan for NaN and the infinities, 0.0 otherwise
                return True
        elif cls is list or cls is tuple:
            extend(item)
        elif cls is dict:
            extend(item.values())
        elif cls not in _LEAVES and isinstance(item, Enum):
            push(item.value)
    return False


_LEAVES = frozenset({str, int, bool, type(None)})


def _refuse_non_finite(value: Any, what: str) -> None:
    found = _non_finite(value) if _has_non_finite(value) else None
    if found is not None:
        steps, bad = found
        where = f" at {''.join(reversed(steps))}" if steps else ""
        raise SerializationError(
            f"{what} is not JSON-serializable: float value{where} ({bad!r}); JSON has no "
            "NaN or Infinity"
        )


def _non_finite(value: Any) -> tuple[list[str], float] | None:
    """The first NaN or infinite float in *value*, with the steps to it (last
    step first), or None."""
    if value.__class__ is float:
        return None if math.isfinite(value) else ([], value)
    if isinstance(value, dict):
        for key, item in value.items():
            found = _non_finite(item)
            if found is not None:
                found[0].append(f"[{key!r}]")
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _non_finite(item)
            if found is not None:
                found[0].append(f"[{index}]")
                return found
    elif isinstance(value, Enum):
        return _non_finite(value.value)
    return None


def _check_argument(arg: Any, what: str) -> None:
    try:
        # Inside the call's {"args": [...]}, an argument starts two levels down.
        orjson.dumps([[arg]], option=_OPTIONS)
    except TypeError as error:
        raise SerializationError(_describe_failure(arg, what, error, MAX_DEPTH - 2)) from None
    dumps(arg, what)


def _describe_failure(value: Any, what: str, error: TypeError, depth: int = MAX_DEPTH) -> str:
    if str(error) == "Recursion limit reached":
        # Walking down to the culprit would itself recurse thousands of levels.
        return (
            f"{what} is not JSON-serializable: it is nested deeper than {depth} levels "
            "or contains itself"
        )
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
