"""Capturing who enqueues a job (the producer's side of
:mod:`joblane.core.identity`).

Each job built (``Queue.enqueue``, ``Queue.build``, ``enqueue_many``) takes
the identity :func:`capture` returns at that moment:

1. inside ``with acting_as(user_id, **context):``, that user
   (``acting_as(None)``: no one, whatever the provider says);
2. else what the provider set by :func:`set_provider` returns (an
   :class:`Identity`, a user id, or None), called once per build;
3. else None: the job has no identity and runs as the worker's process does.

An identity that is not valid, or a provider that raises, fails the enqueue
with an :class:`~joblane.errors.IdentityError` naming the user and the reason.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from joblane.core.identity import (
    ContextValue,
    Identity,
    checked_identity,
    ignore,
    make_identity,
)
from joblane.errors import IdentityError

__all__ = ["Identity", "acting_as", "capture", "ignore", "set_provider"]

Provider = Callable[[], Identity | str | None]
"""Returns the identity of whoever is enqueuing now (e.g. the request's user)."""

_UNSET = object()
_acting: contextvars.ContextVar[object] = contextvars.ContextVar(
    "joblane_acting_as", default=_UNSET
)
_provider: list[Provider] = []


def set_provider(provider: Provider | None) -> None:
    """Capture each job's identity with *provider* from now on (None: stop).
    One per process: a web app sets it once at start."""
    if provider is not None and not callable(provider):
        raise IdentityError(f"an identity provider must be callable, not {provider!r}")
    _provider[:] = [] if provider is None else [provider]


@contextmanager
def acting_as(user_id: str | None, **context: ContextValue) -> Iterator[Identity | None]:
    """Jobs built inside the block are enqueued by *user_id* with *context*
    (None: by no one). Validated at once: IdentityError names what is wrong."""
    identity = None if user_id is None else make_identity(user_id, context)
    token = _acting.set(identity)
    try:
        yield identity
    finally:
        _acting.reset(token)


def capture() -> Identity | None:
    """The identity of whoever enqueues now (see the module docstring)."""
    acting = _acting.get()
    if acting is not _UNSET:
        return acting  # type: ignore[return-value]  # an Identity or None, checked
    if not _provider:
        return None
    try:
        value = _provider[0]()
    except Exception as error:
        raise IdentityError(
            f"the identity provider failed, so the job's user is unknown: "
            f"{type(error).__name__}: {error}"
        ) from error
    try:
        return checked_identity(value)
    except IdentityError as error:
        raise IdentityError(f"the identity provider's answer cannot be stored: {error}") from None
