"""The checks every request passes before it reaches an endpoint, in this order:

1. method: GET and HEAD read; OPTIONS answers 204 with ``Allow`` and needs no
   credentials (a CORS preflight carries none); any other method is 405,
   whatever the path, before authentication (it reveals nothing);
2. authentication (:mod:`joblane.monitor.auth`): 401 with one
   ``WWW-Authenticate`` challenge per configured scheme, except on the
   public paths (the OpenAPI document);
3. the raw path: an encoded slash or backslash (``%2F``, ``%5C``) is 400,
   since the server decodes it into a separator the client did not write.

Names in the path (``..``, unicode, over-long) are judged by the endpoints,
which validate them as :mod:`joblane.core.queues` does.
"""

from __future__ import annotations

from collections.abc import Collection

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from joblane.monitor.auth import Auth, Verdict
from joblane.monitor.responses import error_response

READ_METHODS = frozenset({"GET", "HEAD"})
ALLOW = "GET, HEAD, OPTIONS"

_ENCODED_SEPARATORS = (b"%2f", b"%5c")


def route_path(scope: Scope) -> str:
    """The request's path inside the app (without the path it is mounted at)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and (len(path) == len(root) or path[len(root)] == "/"):
        return path[len(root) :]
    return path


def raw_path(scope: Scope) -> bytes | None:
    """The path as the client sent it, when the server tells (ASGI ``raw_path``,
    or a WSGI server's ``RAW_URI`` / ``REQUEST_URI``)."""
    raw = scope.get("raw_path")
    if isinstance(raw, bytes):
        return raw
    environ = scope.get("wsgi_environ") or {}
    uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if isinstance(uri, str):
        return uri.split("?", 1)[0].encode("latin-1", "replace")
    return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


class Guard:
    """ASGI middleware: method, authentication and raw-path checks (see module doc)."""

    def __init__(self, app: ASGIApp, *, auth: Auth, public_paths: Collection[str]) -> None:
        self.app = app
        self.auth = auth
        self.public_paths = frozenset(public_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        response: Response
        if method == "OPTIONS":
            response = Response(status_code=204, headers={"Allow": ALLOW})
        elif method not in READ_METHODS:
            response = error_response(
                405, f"method {method[:20]} is not allowed: this API is read-only", {"Allow": ALLOW}
            )
        elif (
            route_path(scope) not in self.public_paths
            and (verdict := self.auth.check(_header(scope, b"authorization")))
            is not Verdict.ALLOWED
        ):
            message = (
                "authentication required: send Authorization: Bearer <token> or HTTP Basic "
                "credentials"
                if verdict is Verdict.MISSING
                else "invalid credentials"
            )
            challenges = [("WWW-Authenticate", c) for c in self.auth.challenges()]
            response = error_response(401, message, repeated=challenges)
        elif any(s in (raw_path(scope) or b"").lower() for s in _ENCODED_SEPARATORS):
            response = error_response(400, "encoded slashes are not allowed in the path")
        else:
            await self.app(scope, receive, send)
            return
        await response(scope, receive, send)
