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
must be thread-safe, as every joblane backend is). The shapes are built by
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
from joblane.core.queues import (
    DEFAULT_QUEUES,
    parse_queue_list,
    validate_job_id,
    validate_queue_name,
)
from joblane.core.states import Registry
from joblane.errors import BackendError, ConfigurationError, InvalidJobError
from joblane.monitor import schemas
from joblane.monitor.auth import Auth
from joblane.monitor.guard import Guard
from joblane.monitor.responses import EncodedJSONResponse, JSONResponse, error_response

log = logging.getLogger("joblane.monitor")

DEFAULT_LIMIT = 100
"""Jobs in a registry page, or queues in a page of queues, when ``?limit=`` is not given."""
MAX_LIMIT = 1000
MAX_START = 1_000_000_000
DEFAULT_PAGE_BYTES = 4 * 1024 * 1024
"""The byte budget of a registry page (``create_api(page_bytes=...)``)."""
OPENAPI_PATH = "/@rq-openapi.json"
ENV_PREFIX = "JOBLANE_API_PREFIX"
ENV_QUEUES = "JOBLANE_API_QUEUES"

_DIGITS = re.compile(r"[0-9]{1,10}")
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


def _shown(value: str) -> str:
    return repr(value if len(value) <= 80 else value[:80] + "...")


def _int_param(request: Request, name: str, default: int, maximum: int) -> int:
    values = request.query_params.getlist(name)
    if not values:
        return default
    if len(values) > 1:
        raise HTTPException(400, f"give {name} once, not {len(values)} times")
    value = values[0]
    if not _DIGITS.fullmatch(value) or int(value) > maximum:
        raise HTTPException(
            400, f"{name} must be an integer from 0 to {maximum}, not {_shown(value)}"
        )
    return int(value)


def _next_link(start: int, step: int, count: int, limit: int | None = None) -> dict[str, str]:
    """The ``Link`` header to the page after the *step* items from *start*, if
    any of *count* follow; that page asks for *limit* items (default *step*)."""
    if not step or start + step >= count:
        return {}
    # A relative reference of only a query resolves against this very path.
    return {"Link": f'<?start={start + step}&limit={step if limit is None else limit}>; rel="next"'}


class Endpoints:
    """The endpoints over one reader; sync, so Starlette runs them in its threadpool."""

    def __init__(
        self, reader: ReadOnlyBackend, queues: Iterable[str], prefix: str, page_bytes: int
    ) -> None:
        self.reader = reader
        self.configured = frozenset(queues)
        self.prefix = prefix
        self.page_bytes = page_bytes
        self.openapi_doc = load_openapi()

    # -- helpers -------------------------------------------------------------

    def queue_names(self) -> list[str]:
        return sorted(self.configured.union(self.reader.queue_names()))

    def valid_queue(self, request: Request) -> str:
        name: str = request.path_params["queue"]
        try:
            return validate_queue_name(name)
        except InvalidJobError as error:
            raise HTTPException(400, str(error)) from None

    def require_known(self, queue: str) -> None:
        """404 unless *queue* is configured or holds jobs."""
        if queue not in self.configured and queue not in self.reader.queue_names():
            raise HTTPException(404, f"unknown queue {queue!r}")

    def queue_json(self, queue: str) -> dict[str, Any]:
        counts = {r: self.reader.registry_count(queue, r) for r in Registry}
        return schemas.queue_json(queue, self.reader.count(queue), counts)

    # -- endpoints -----------------------------------------------------------

    def list_queues(self, request: Request) -> Response:
        start = _int_param(request, "start", 0, MAX_START)
        limit = _int_param(request, "limit", DEFAULT_LIMIT, MAX_LIMIT)
        names = self.queue_names()
        # Counts are read for this page's queues only.
        items = [self.queue_json(name) for name in names[start : start + limit]]
        return JSONResponse(
            schemas.queue_list_json(items), headers=_next_link(start, limit, len(names))
        )

    def get_queue(self, request: Request) -> Response:
        queue = self.valid_queue(request)
        self.require_known(queue)
        return JSONResponse(self.queue_json(queue))

    def get_registry(self, request: Request) -> Response:
        queue = self.valid_queue(request)
        self.require_known(queue)
        name: str = request.path_params["registry"]
        try:
            registry = Registry(name)
        except ValueError:
            expected = ", ".join(r.value for r in Registry)
            raise HTTPException(
                404, f"unknown registry {_shown(name)}; expected one of {expected}"
            ) from None
        start = _int_param(request, "start", 0, MAX_START)
        limit = _int_param(request, "limit", DEFAULT_LIMIT, MAX_LIMIT)
        count = self.reader.registry_count(queue, registry)
        records = self.reader.list_registry(queue, registry, start, limit) if limit else []
        body, held = schemas.registry_page_bytes(queue, registry, count, records,
                                                 self.page_bytes)  # fmt: skip
        # Cut short by the budget, the next page starts at the first job left out.
        step = held if held < len(records) else limit
        return EncodedJSONResponse(body, headers=_next_link(start, step, count, limit))

    def get_job(self, request: Request) -> Response:
        queue = self.valid_queue(request)
        try:
            job_id = validate_job_id(request.path_params["job_id"])
        except InvalidJobError as error:
            raise HTTPException(400, str(error)) from None
        self.require_known(queue)
        record = self.reader.get(job_id)
        if record is None or record.queue != queue:
            return JSONResponse({}, 404)  # the seed: "A missing job returns an empty object"
        return JSONResponse(schemas.job_json(record))

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
    configured = [validate_queue_name(q) for q in queues]
    if isinstance(page_bytes, bool) or not isinstance(page_bytes, int) or page_bytes <= 0:
        raise ConfigurationError(f"page_bytes must be a positive int, not {page_bytes!r}")
    endpoints = Endpoints(reader, configured, prefix, page_bytes)
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
