"""The web request being served, and the task it verified, as context variables.

The middlewares (:mod:`joblane.http.asgi`, :mod:`joblane.http.wsgi`,
:mod:`joblane.http.django`) set both around the app, in the request's own
context (its task under ASGI, its thread under WSGI), so that:

* :func:`joblane.http.add` called while serving a request copies that
  request's headers and body (:func:`current_request`);
* a view asks :func:`current_task` whether it serves a verified task request,
  and as which user (None outside one).
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from joblane.http.signing import VerifiedTask


@dataclass(frozen=True, slots=True)
class CurrentRequest:
    """What :func:`joblane.http.add` may copy of the request being served."""

    method: str
    headers: tuple[tuple[str, str], ...]
    body: bytes | None
    """None: the body was over the size limit, so it was not kept."""


_request: contextvars.ContextVar[CurrentRequest | None] = contextvars.ContextVar(
    "joblane_http_request", default=None
)
_task: contextvars.ContextVar[VerifiedTask | None] = contextvars.ContextVar(
    "joblane_http_task", default=None
)


def current_request() -> CurrentRequest | None:
    """The request a middleware is serving in this context, or None."""
    return _request.get()


def current_task() -> VerifiedTask | None:
    """The verified task request being served in this context, or None."""
    return _task.get()


@contextmanager
def serving(request: CurrentRequest | None, task: VerifiedTask | None) -> Iterator[None]:
    """Set :func:`current_request` and :func:`current_task` for the block."""
    request_token = _request.set(request)
    task_token = _task.set(task)
    try:
        yield
    finally:
        _task.reset(task_token)
        _request.reset(request_token)
