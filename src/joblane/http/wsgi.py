"""WSGI middleware: verify task requests before the app sees them.

::

    application = TaskRequestMiddleware(application)

As :mod:`joblane.http.asgi`: a request without task headers goes on with
``environ["joblane.task"] = None``; a verified task request with the
:class:`~joblane.http.signing.VerifiedTask`; any other request carrying a task
header gets ``401``. The body is read (up to ``max_body`` bytes) and handed
on as ``wsgi.input``; :func:`joblane.http.current_request` and
:func:`~joblane.http.current_task` answer while the app runs (the WSGI server
calls the app and reads its response in the request's thread).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from joblane.errors import TaskRequestError
from joblane.http.current import CurrentRequest, serving
from joblane.http.settings import current_settings
from joblane.http.signing import TASK_HEADERS
from joblane.http.verify import Verifier, default_verifier

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

ENVIRON_KEY = "joblane.task"


def environ_headers(environ: dict[str, Any]) -> list[tuple[str, str]]:
    """The request's headers from a WSGI environ (``HTTP_X_TASK_ID`` -> ``X-Task-Id``)."""
    headers = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers.append((key[5:].replace("_", "-").title(), str(value)))
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            headers.append((key.replace("_", "-").title(), str(value)))
    return headers


def environ_path(environ: dict[str, Any]) -> str:
    """The decoded path (SCRIPT_NAME + PATH_INFO, as UTF-8)."""
    raw = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    try:
        return str(raw.encode("latin-1").decode("utf-8"))
    except UnicodeError:
        return str(raw)


def read_body(environ: dict[str, Any], limit: int) -> bytes | None:
    """The body (its Content-Length), None if over *limit* (then left unread);
    ``wsgi.input`` is replaced by a buffer of what was read."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        return None
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return bytes(body)


class TaskRequestMiddleware:
    """See the module docstring. *verifier*: default :func:`default_verifier`."""

    def __init__(self, app: WSGIApp, *, verifier: Verifier | None = None) -> None:
        self.app = app
        self.verifier = verifier

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        headers = environ_headers(environ)
        limit = current_settings().max_body
        body = read_body(environ, limit)
        task = None
        if any(name.lower() in TASK_HEADERS for name, _ in headers):
            try:
                if body is None:
                    raise TaskRequestError(f"the body is over {limit} bytes: it cannot be verified")
                task = (self.verifier or default_verifier()).verify(
                    environ["REQUEST_METHOD"], environ_path(environ),
                    environ.get("QUERY_STRING", ""), headers, body,
                )  # fmt: skip
            except TaskRequestError as refused:
                text = f"task request refused: {refused.reason}\n".encode()
                start_response("401 Unauthorized", [
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", str(len(text))),
                ])  # fmt: skip
                return [text]
        environ[ENVIRON_KEY] = task
        request = CurrentRequest(environ["REQUEST_METHOD"], tuple(headers), body)
        return _Serving(self.app, environ, start_response, request, task)


class _Serving:
    """The app's response, iterated with the request's context set."""

    def __init__(
        self, app: WSGIApp, environ: dict[str, Any], start_response: StartResponse,
        request: CurrentRequest, task: Any,
    ) -> None:  # fmt: skip
        self.request = request
        self.task = task
        with serving(request, task):
            self.result = app(environ, start_response)

    def __iter__(self) -> Iterator[bytes]:
        with serving(self.request, self.task):
            yield from self.result

    def close(self) -> None:
        close = getattr(self.result, "close", None)
        if close is not None:
            close()
