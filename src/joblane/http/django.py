"""Django middleware: verify task requests, and serve a verified one as its user.

::

    MIDDLEWARE = [
        ...,
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "joblane.http.django.TaskRequestMiddleware",
        ...,
    ]

Place it after ``AuthenticationMiddleware``. For each request:

* without task headers: served as usual; ``request.joblane_task`` is None;
* a task request whose signature holds (:mod:`joblane.http.verify`):
  ``request.joblane_task`` is the :class:`~joblane.http.signing.VerifiedTask`
  and ``request.user`` the user whose primary key is its ``user_id`` (the id
  the Django identity recipe stores, ``str(user.pk)``), or ``AnonymousUser``
  for a task enqueued by no one; a user that no longer exists or is inactive
  gets 401;
* any other request carrying a task header: 401, before any view runs.

It also makes the request :func:`joblane.http.current_request` while it is
served, so that :func:`joblane.http.add` in a view copies its headers and body
(the body is read only when it is at most ``max_body`` bytes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse

from joblane.errors import TaskRequestError
from joblane.http.current import CurrentRequest, serving
from joblane.http.settings import current_settings
from joblane.http.signing import TASK_HEADERS, VerifiedTask
from joblane.http.verify import Verifier, default_verifier


class TaskRequestMiddleware:
    """See the module docstring; a subclass may set :attr:`verifier` or
    override :meth:`user_for`."""

    verifier: Verifier | None = None

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        headers = [(str(k), str(v)) for k, v in request.headers.items()]
        body = _body(request, current_settings().max_body)
        task: VerifiedTask | None = None
        if any(name.lower() in TASK_HEADERS for name, _ in headers):
            try:
                if body is None:
                    raise TaskRequestError("the body is too large to be verified")
                task = (self.verifier or default_verifier()).verify(
                    request.method or "GET", request.path,
                    request.META.get("QUERY_STRING", ""), headers, body,
                )  # fmt: skip
                assert task is not None
                request.user = self.user_for(task)
            except TaskRequestError as refused:
                return HttpResponse(
                    f"task request refused: {refused.reason}\n", status=401,
                    content_type="text/plain; charset=utf-8",
                )  # fmt: skip
        request.joblane_task = task
        current = CurrentRequest(request.method or "GET", tuple(headers), body)
        with serving(current, task):
            return self.get_response(request)

    def user_for(self, task: VerifiedTask) -> Any:
        """The user a verified task request is served as; TaskRequestError
        (401) if it cannot be."""
        if task.user_id is None:
            return AnonymousUser()
        model = get_user_model()
        try:
            user = model._default_manager.get(pk=task.user_id)
        except (model.DoesNotExist, ValueError):
            raise TaskRequestError(f"no user with the id {task.user_id!r}") from None
        if not getattr(user, "is_active", True):
            raise TaskRequestError(f"the user {task.user_id!r} is inactive")
        return user


def _body(request: HttpRequest, limit: int) -> bytes | None:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        return None
    try:
        return bytes(request.body)
    except RequestDataTooBig:
        return None
