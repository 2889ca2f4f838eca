"""Who enqueued a job: an :class:`Identity`, stored with the job as data.

::

    producer                          stored job                 worker slot
    acting_as() / set_provider()  ->  enqueued_by: Identity  ->  Worker(identity=restore)
    (joblane.identity.capture)        {"user_id", "context"}     with restore(identity): job()

An identity is a user id (text) and an optional context of plain values (a
site path, a tenant): never a pickled object, so any worker can read it and
the API can show it. :func:`checked_identity` validates one (JSON-safe, a text
user id, bounded size) and raises :class:`~joblane.errors.IdentityError`
naming the user and the reason. A worker restores it with a *restore* hook, a
callable that takes the Identity and returns a context manager inside which
the job runs as that user (:data:`Restore`).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import orjson

from joblane.errors import IdentityError

ContextValue = str | int | float | bool | None
"""A value of an identity's context: a JSON scalar."""

MAX_USER_ID = 256
"""Characters of a user id."""

MAX_IDENTITY_BYTES = 4096
"""Bytes of an identity encoded as JSON (user id and context)."""

Restore = Callable[["Identity"], AbstractContextManager[object]]
"""A worker's hook: takes the job's Identity, returns the context manager the
job runs inside (as that user). Raising (on the call or on entering) fails
the attempt: see docs/how-to/identity.md."""


@dataclass(frozen=True, slots=True)
class Identity:
    """The user a job was enqueued by, and the context it acted in."""

    user_id: str
    context: dict[str, ContextValue] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """``{"user_id": ..., "context": {...}}``: how it is stored and shown."""
        return {"user_id": self.user_id, "context": dict(self.context)}


def shown_user(user_id: object) -> str:
    """A user id as an error names it: its repr, cut to 60 characters."""
    text = repr(user_id)
    return text if len(text) <= 60 else text[:57] + "..."


def checked_identity(value: object) -> Identity | None:
    """*value* (an Identity, a user id, or None) as a valid Identity or None;
    IdentityError naming the user and what is wrong otherwise."""
    if value is None:
        return None
    if isinstance(value, str):
        value = Identity(value)
    if not isinstance(value, Identity):
        raise IdentityError(
            f"an identity must be an Identity, a user id (str) or None, not {type(value).__name__}"
        )
    return make_identity(value.user_id, value.context)


def make_identity(user_id: object, context: Mapping[str, object] | None = None) -> Identity:
    """A valid Identity of *user_id* and *context*; IdentityError otherwise."""
    who = shown_user(user_id)
    if not isinstance(user_id, str):
        raise IdentityError(f"the user id {who} must be a str, not {type(user_id).__name__}")
    if not user_id or len(user_id) > MAX_USER_ID:
        raise IdentityError(f"the user id {who} must be 1 to {MAX_USER_ID} characters")
    if context is None:
        context = {}
    if not isinstance(context, Mapping):
        raise IdentityError(
            f"the context of user {who} must be a dict, not {type(context).__name__}"
        )
    for key, item in context.items():
        if not isinstance(key, str):
            raise IdentityError(f"the context of user {who} has a key that is not a str: {key!r}")
        if not _scalar(item):
            raise IdentityError(
                f"the context of user {who} has {key}={item!r}: a context value must be a "
                "str, int, float (finite), bool or None"
            )
    identity = Identity(user_id, dict(context))  # type: ignore[arg-type]  # checked above
    try:
        size = len(identity_bytes(identity))
    except orjson.JSONEncodeError as error:  # an int past 64 bits
        raise IdentityError(f"the context of user {who} cannot be stored: {error}") from None
    if size > MAX_IDENTITY_BYTES:
        raise IdentityError(
            f"the identity of user {who} is {size} bytes as JSON, over the limit of "
            f"{MAX_IDENTITY_BYTES} bytes"
        )
    return identity


def _scalar(value: object) -> bool:
    if value is None or isinstance(value, str | bool | int):
        return True
    return isinstance(value, float) and math.isfinite(value)


def identity_bytes(identity: Identity) -> bytes:
    """The identity as stored: JSON bytes of :meth:`Identity.to_json`."""
    return orjson.dumps(identity.to_json())


def identity_from_json(raw: bytes | str) -> Identity:
    """The Identity stored as *raw*; ValueError saying what is wrong."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ValueError("not JSON") from None
    return identity_from_data(data)


def identity_from_data(data: object) -> Identity:
    """The Identity of decoded JSON :meth:`Identity.to_json`; ValueError otherwise."""
    if type(data) is not dict or set(data) - {"user_id", "context"}:
        raise ValueError("not the JSON of an identity")
    try:
        return make_identity(data.get("user_id"), data.get("context"))
    except IdentityError as error:
        raise ValueError(str(error)) from None


def ignore(identity: Identity) -> AbstractContextManager[object]:
    """The restore hook of a worker that runs jobs without their enqueuer's
    identity, on purpose (``joblane worker --identity joblane.identity:ignore``)."""
    return contextlib.nullcontext()
