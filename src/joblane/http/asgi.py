"""ASGI middleware: verify task requests before the app sees them.

::

    app = TaskRequestMiddleware(app)            # Starlette, FastAPI, any ASGI app

For each HTTP request it reads the body (up to ``max_body`` bytes; a larger
body is streamed on to the app untouched, and cannot be a task request's),
then:

* a request without task headers goes on, with ``scope["joblane.task"] = None``;
* a task request whose signature holds goes on with
  ``scope["joblane.task"]`` the :class:`~joblane.http.signing.VerifiedTask`
  (its ``user_id`` the user to treat the request as);
* any other request carrying a task header gets ``401`` and never reaches the app.

While the app runs, :func:`joblane.http.current_request` and
:func:`joblane.http.current_task` answer for this request, so a view that
calls :func:`joblane.http.add` / :func:`~joblane.http.aadd` copies it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from joblane.errors import TaskRequestError
from joblane.http.current import CurrentRequest, serving
from joblane.http.settings import current_settings
from joblane.http.signing import TASK_HEADERS
from joblane.http.verify import Verifier, default_verifier

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SCOPE_KEY = "joblane.task"


class TaskRequestMiddleware:
    """See the module docstring. *verifier*: default :func:`default_verifier`."""

    def __init__(self, app: ASGIApp, *, verifier: Verifier | None = None) -> None:
        self.app = app
        self.verifier = verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        limit = current_settings().max_body
        body, messages, complete = await _read(receive, limit)
        task = None
        if any(name.lower() in TASK_HEADERS for name, _ in headers):
            try:
                if not complete:
                    raise TaskRequestError(f"the body is over {limit} bytes: it cannot be verified")
                verifier = self.verifier or default_verifier()
                task = await asyncio.to_thread(
                    verifier.verify, scope["method"], scope["path"],
                    scope.get("query_string", b"").decode("latin-1"), headers, body,
                )  # fmt: skip
            except TaskRequestError as refused:
                await _unauthorized(send, refused.reason)
                return
        scope[SCOPE_KEY] = task
        request = CurrentRequest(scope["method"], tuple(headers), body if complete else None)
        with serving(request, task):
            await self.app(scope, _replay(messages, receive), send)


async def _read(receive: Receive, limit: int) -> tuple[bytes, list[Message], bool]:
    """The body read so far, the messages read, and whether it was all read."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return b"", messages, False
        size += len(message.get("body", b""))
        if size > limit:
            return b"", messages, False
        if not message.get("more_body", False):
            return b"".join(m.get("body", b"") for m in messages), messages, True


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


async def _unauthorized(send: Send, reason: str) -> None:
    body = f"task request refused: {reason}\n".encode()
    await send({
        "type": "http.response.start",
        "status": 401,
        "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode())],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": body})
