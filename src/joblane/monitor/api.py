"""The read-only monitoring REST API of seed 000, as a Starlette (ASGI) app.

::

    GET {prefix}/@rq-queues                          one page of the queues by name (?start=&limit=)
    GET {prefix}/@rq-queues/{queue}                  one queue
    GET {prefix}/@rq-queues/{queue}/{registry}       one page of a registry (?start=&limit=)
    GET {prefix}/@rq-job/{queue}/{job_id}            one job, or {} (404)
    GET {prefix}/@rq-schedules                       the cron schedules live workers run
    GET {prefix}/@rq-openapi.json                    the OpenAPI document (no credentials)

It reads through a :class:`~joblane.backends.base.ReadOnlyBackend` only, so it
can change nothing. The backend contract is synchronous: the endpoints are
plain functions that Starlette runs in its threadpool (a backend given here
must be thread-safe, as every joblane backend is). The endpoints' answers
(shapes, paging, 400/404) come from :mod:`joblane.monitor.views`, which the
Plone REST services share; the shapes are built by
:mod:`joblane.monitor.schemas`, the checks before an endpoint are in
:mod:`joblane.monitor.guard`, errors are shaped by
:mod:`joblane.monitor.responses`.

The queues listed are the configured ones (default important, normal, low)
plus every queue the backend holds jobs in. Any other queue is 404.

Paging: a list answers at most ``limit`` items (default 100, at most 1000)
from ``start``, and a ``Link: <?start=N&limit=L>; rel="next"`` header while
more follow. A registry page also stops before the body would pass its byte
budget (``page_bytes``, default 4 MiB), though it always holds at least one
job; its next link then starts at the first job left out.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from joblane.backends.base import ReadOnlyBackend
from joblane.config import backend_from_url, resolve_url
from joblane.core.queues import DEFAULT_QUEUES, parse_queue_list
from joblane.errors import BackendError, ConfigurationError
from joblane.monitor import schemas
from joblane.monitor.auth import Auth
from joblane.monitor.guard import Guard
from joblane.monitor.responses import EncodedJSONResponse, JSONResponse, error_response
from joblane.monitor.views import (
    DEFAULT_LIMIT,
    DEFAULT_PAGE_BYTES,
    MAX_LIMIT,
    MAX_START,
    Answer,
    MonitorViews,
    ViewError,
)

__all__ = [
    "DEFAULT_LIMIT",
    "DEFAULT_PAGE_BYTES",
    "MAX_LIMIT",
    "MAX_START",
    "create_api",
    "create_api_from_env",
    "load_openapi",
    "normalize_prefix",
]

log = logging.getLogger("joblane.monitor")

OPENAPI_PATH = "/@rq-openapi.json"
ENV_PREFIX = "JOBLANE_API_PREFIX"
ENV_QUEUES = "JOBLANE_API_QUEUES"

_PREFIX_SEGMENT = re.compile(r"[A-Za-z0-9_~@+-][A-Za-z0-9._~@+-]*")


def normalize_prefix(prefix: str) -> str:
    """``"/Plone/"`` → ``"/Plone"``; ``""`` and ``"/"`` → ``""`` (served at the root)."""
    stripped = prefix.rstrip("/")
    if stripped and (
        not stripped.startswith("/")
        or not all(_PREFIX_SEGMENT.fullmatch(part) for part in stripped[1:].split("/"))
    ):
        raise ConfigurationError(
            f"invalid API prefix {prefix[:80]!r}: use a path such as /Plone "
            "(segments of letters, digits, '.', '_', '~', '@', '+', '-')"
        )
    return stripped


def load_openapi() -> dict[str, Any]:
    """The API's OpenAPI document (``servers`` is filled in per request)."""
    text = resources.files("joblane.monitor").joinpath("openapi.json").read_text("utf-8")
    doc: dict[str, Any] = json.loads(text)
    return doc


def _answered(answer: Answer) -> Response:
    return EncodedJSONResponse(answer.body, answer.status, answer.headers)


def _view_error(error: ViewError) -> HTTPException:
    return HTTPException(error.status, error.message)


class Endpoints:
    """The endpoints over :class:`~joblane.monitor.views.MonitorViews`; sync, so
    Starlette runs them in its threadpool."""

    def __init__(self, views: MonitorViews, prefix: str) -> None:
        self.views = views
        self.reader = views.reader
        self.prefix = prefix
        self.openapi_doc = load_openapi()

    def list_queues(self, request: Request) -> Response:
        query = request.query_params
        try:
            return _answered(self.views.list_queues(query.getlist("start"), query.getlist("limit")))
        except ViewError as error:
            raise _view_error(error) from None

    def get_queue(self, request: Request) -> Response:
        try:
            return _answered(self.views.get_queue(request.path_params["queue"]))
        except ViewError as error:
            raise _view_error(error) from None

    def get_registry(self, request: Request) -> Response:
        query = request.query_params
        path = request.path_params
        try:
            answer = self.views.get_registry(
                path["queue"], path["registry"], query.getlist("start"), query.getlist("limit")
            )
        except ViewError as error:
            raise _view_error(error) from None
        return _answered(answer)

    def get_job(self, request: Request) -> Response:
        path = request.path_params
        try:
            return _answered(self.views.get_job(path["queue"], path["job_id"]))
        except ViewError as error:
            raise _view_error(error) from None

    def list_schedules(self, request: Request) -> Response:
        return JSONResponse(schemas.schedule_list_json(self.reader.schedules()))

    def openapi(self, request: Request) -> Response:
        doc = copy.deepcopy(self.openapi_doc)
        doc["servers"] = [{"url": (request.scope.get("root_path", "") + self.prefix) or "/"}]
        return JSONResponse(doc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, exc.detail, exc.headers)


async def _backend_error(request: Request, exc: Exception) -> Response:
    log.error("monitoring API: backend error on %s", request.url.path, exc_info=exc)
    return error_response(503, "the job backend is unavailable; try again later")


async def _server_error(request: Request, exc: Exception) -> Response:
    # Starlette re-raises after this answer, so the server logs the traceback.
    return error_response(500, "internal error; the server log has the details")


def create_api(
    reader: ReadOnlyBackend,
    *,
    prefix: str = "",
    queues: Iterable[str] = DEFAULT_QUEUES,
    auth: Auth,
    page_bytes: int = DEFAULT_PAGE_BYTES,
) -> Starlette:
    """The monitoring API over *reader*, served under *prefix* (e.g. ``/Plone``).

    *auth* is required: :meth:`Auth.from_env`, explicit credentials, or
    :meth:`Auth.disabled` to let every request in. *page_bytes* is the byte
    budget of a registry page. Raises ConfigurationError for an Auth without
    credentials, a bad prefix, a bad queue name or a bad budget.
    """
    if auth.enabled and not auth.has_credentials:
        raise ConfigurationError(
            "the monitoring API needs credentials: set JOBLANE_API_TOKENS or "
            "JOBLANE_API_USERS (or pass them), or disable authentication explicitly"
        )
    prefix = normalize_prefix(prefix)
    endpoints = Endpoints(MonitorViews(reader, queues, page_bytes), prefix)
    routes = [
        Route(f"{prefix}/@rq-queues", endpoints.list_queues, methods=["GET"]),
        Route(f"{prefix}/@rq-queues/{{queue}}", endpoints.get_queue, methods=["GET"]),
        Route(
            f"{prefix}/@rq-queues/{{queue}}/{{registry}}", endpoints.get_registry, methods=["GET"]
        ),
        Route(f"{prefix}/@rq-job/{{queue}}/{{job_id}}", endpoints.get_job, methods=["GET"]),
        Route(f"{prefix}/@rq-schedules", endpoints.list_schedules, methods=["GET"]),
        Route(f"{prefix}{OPENAPI_PATH}", endpoints.openapi, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(Guard, auth=auth, public_paths=frozenset({f"{prefix}{OPENAPI_PATH}"}))
        ],
        exception_handlers={
            HTTPException: _http_error,
            BackendError: _backend_error,
            Exception: _server_error,
        },
    )
    # A trailing slash is another (unknown) path: 404 JSON, not a redirect.
    app.router.redirect_slashes = False
    return app


def create_api_from_env(env: Mapping[str, str] | None = None) -> Starlette:
    """The API as the environment configures it, for ``uvicorn --factory``.

    The backend of ``JOBLANE_URL``, the prefix ``JOBLANE_API_PREFIX`` (default:
    the root), the queues ``JOBLANE_API_QUEUES`` (default important,normal,low)
    and the credentials of ``JOBLANE_API_TOKENS`` / ``JOBLANE_API_USERS``, at
    least one of which is required.
    """
    env = os.environ if env is None else env
    auth = Auth.from_env(env)
    queues = parse_queue_list(env.get(ENV_QUEUES) or DEFAULT_QUEUES)
    reader = backend_from_url(resolve_url(None, env))
    return create_api(reader, prefix=env.get(ENV_PREFIX, ""), queues=queues, auth=auth)
