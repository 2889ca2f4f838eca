"""Run each job as the Django user whose request enqueued it.

Wiring (docs/how-to/identity.md)::

    # settings.py
    MIDDLEWARE = [..., "django.contrib.auth.middleware.AuthenticationMiddleware",
                  "djangoapp.identity.identity_middleware", ...]

    # an AppConfig.ready() (the web process)
    joblane.identity.set_provider(djangoapp.identity.request_identity)

    # the worker
    joblane worker --import djangoapp.wsgi --identity djangoapp.identity:run_as_user
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.contrib.auth import get_user_model
from django.db import close_old_connections

from joblane import Identity, IdentityError, job

_request_user: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_user", default=None
)
_job_user: contextvars.ContextVar[Any] = contextvars.ContextVar("job_user", default=None)


# -- the web process: capture ---------------------------------------------------


def identity_middleware(get_response: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Remember the request's user (after AuthenticationMiddleware) while it is served."""

    def middleware(request: Any) -> Any:
        user = getattr(request, "user", None)
        pk = str(user.pk) if user is not None and user.is_authenticated else None
        token = _request_user.set(pk)
        try:
            return get_response(request)
        finally:
            _request_user.reset(token)

    return middleware


def request_identity() -> Identity | None:
    """The identity provider: the user of the request being served, if any."""
    pk = _request_user.get()
    return None if pk is None else Identity(pk)


# -- the worker: restore ----------------------------------------------------------


@contextmanager
def run_as_user(identity: Identity) -> Iterator[Any]:
    """The restore hook: load the user; the job reads it with :func:`current_user`.

    A user deleted or deactivated since the enqueue fails the attempt for good
    (IdentityError); a database error fails it as any error does (retried by
    the job's policy).
    """
    close_old_connections()  # as Django does around each request
    User = get_user_model()
    try:
        user = User.objects.get(pk=identity.user_id)
    except User.DoesNotExist:
        raise IdentityError("no such user (deleted since the job was enqueued?)") from None
    if not user.is_active:
        raise IdentityError("the user is inactive")
    token = _job_user.set(user)
    try:
        yield user
    finally:
        _job_user.reset(token)
        close_old_connections()


def current_user() -> Any:
    """The user the running job runs as (None outside such a job)."""
    return _job_user.get()


@job
def rename_me(name: str) -> str:
    """An example job: change the enqueuing user's first name."""
    user = current_user()
    user.first_name = name
    user.save(update_fields=["first_name"])
    return str(user.username)
