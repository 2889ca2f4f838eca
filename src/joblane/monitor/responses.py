"""The API's JSON responses, and its one error shape.

Every error, whatever raised it, answers::

    {"error": {"type": "NotFound", "message": "unknown queue 'nightly'"}}

``type`` is the HTTP status phrase without spaces (``BadRequest``,
``Unauthorized``, ``NotFound``, ``MethodNotAllowed``, ``ServiceUnavailable``,
``InternalServerError``); ``message`` is for people and never carries a
traceback or a backend's own error text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from starlette.responses import Response

from joblane.monitor.views import error_json, error_type

__all__ = ["NO_STORE", "EncodedJSONResponse", "JSONResponse", "error_response", "error_type"]

NO_STORE = {"Cache-Control": "no-store"}
"""Live, authenticated data: no cache may keep it."""


class JSONResponse(Response):
    media_type = "application/json"

    def __init__(
        self, content: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(content, status_code, {**NO_STORE, **(headers or {})})

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class EncodedJSONResponse(JSONResponse):
    """A JSON response whose body is already encoded."""

    def render(self, content: Any) -> bytes:
        assert isinstance(content, bytes)
        return content


def error_response(
    status: int,
    message: str,
    headers: Mapping[str, str] | None = None,
    *,
    repeated: Iterable[tuple[str, str]] = (),
) -> JSONResponse:
    """The error body for *status*; *repeated* adds headers that may appear more
    than once (``WWW-Authenticate``, one per scheme)."""
    response = JSONResponse(error_json(status, message), status, headers)
    for name, value in repeated:
        response.raw_headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
    return response
