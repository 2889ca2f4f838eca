"""Adding an HTTP task: :func:`add` and :func:`aadd` (seed 001's ``taskqueue.add``).

A task is a job of :func:`joblane.http.send` whose arguments are the request
to send: the method, the full URL (resolved against the app's base URL at
add, with *params* appended), the headers and the body. It is built and
stored as every job is (``Queue.enqueue_call``): with the surrounding
transaction if one is open (:mod:`joblane.pending`), and with the enqueuing
user (:mod:`joblane.identity`) as its ``enqueued_by``, which the worker sends
as ``X-Task-User-Id``.

Inside a web request served through one of the middlewares, the request's
headers are copied (``copy_headers=False``: not copied; *headers* add to them
or replace them, name by name) and, for a POST task, its body is the default
payload (``payload=None``: no body). Headers that describe one connection
(``Host``, ``Content-Length``, ``Connection``...) and the task headers are
never copied.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final
from urllib.parse import quote, urlencode, urljoin, urlsplit, urlunsplit

from joblane.client import RESERVED_OPTIONS, Queue
from joblane.errors import InvalidHttpTaskError, PayloadTooLargeError
from joblane.http.current import current_request
from joblane.http.sender import send
from joblane.http.settings import HttpSettings, current_settings
from joblane.http.signing import TASK_HEADERS
from joblane.shortcuts import default_queue


class _Current:
    def __repr__(self) -> str:
        return "CURRENT"


CURRENT: Final = _Current()
"""The default payload: the current request's body (for a POST task)."""

METHODS = frozenset({"GET", "POST"})
NOT_COPIED = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade",
     "te", "trailer", "expect", "proxy-authorization", "proxy-connection"}
) | TASK_HEADERS  # fmt: skip
"""Headers (lower case) never copied from the current request."""
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"

Params = Mapping[str, Any] | Iterable[tuple[str, Any]]
Payload = bytes | str | _Current | None


def add(
    url: str,
    method: str = "GET",
    params: Params | None = None,
    headers: Mapping[str, str] | None = None,
    payload: Payload = CURRENT,
    queue: Queue | str | None = None,
    *,
    copy_headers: bool = True,
    **job_options: Any,
) -> str:
    """Queue a request to the app's view at *url* and return its task id (the job id).

    *url*: a path on the app (``/plone/folder/@@view`` or ``folder/@@view``,
    resolved against the base URL), or a full URL inside it; anything outside
    (another host, port or scheme, a path outside the base URL's) is refused
    with :class:`~joblane.errors.InvalidHttpTaskError`. *params* (a dict or
    pairs) are appended to its query string. *payload* (bytes or str, POST
    only) is the body, at most ``max_body`` bytes
    (:class:`~joblane.errors.PayloadTooLargeError`). *queue*: a Queue, a
    queue name on the default queue's backend, or None for
    ``joblane.default_queue()``. *job_options* are enqueue options
    (``retry``, ``job_timeout``, ``job_id``...)."""
    target = _queue(queue)
    kwargs = request_kwargs(url, method, params, headers, payload, copy_headers)
    return target.enqueue_call(send, (), kwargs, **_options(job_options)).id


async def aadd(
    url: str,
    method: str = "GET",
    params: Params | None = None,
    headers: Mapping[str, str] | None = None,
    payload: Payload = CURRENT,
    queue: Queue | str | None = None,
    *,
    copy_headers: bool = True,
    **job_options: Any,
) -> str:
    """:func:`add` for async code: the same checks here, the store awaited."""
    target = _queue(queue)
    kwargs = request_kwargs(url, method, params, headers, payload, copy_headers)
    job = await target.aenqueue_call(send, (), kwargs, **_options(job_options))
    return job.id


def _queue(queue: Queue | str | None) -> Queue:
    if queue is None:
        return default_queue()
    if isinstance(queue, Queue):
        return queue
    if isinstance(queue, str):
        return Queue(queue, backend=default_queue().backend)
    raise InvalidHttpTaskError(f"queue must be a Queue, a queue name or None, not {queue!r}")


def _options(options: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - set(RESERVED_OPTIONS))
    if unknown:
        raise InvalidHttpTaskError(
            f"add() got unknown argument(s) {unknown}: it takes url, method, params, headers, "
            f"payload, queue, copy_headers and the job options {sorted(RESERVED_OPTIONS)}"
        )
    return options


def request_kwargs(
    url: str, method: str, params: Params | None, headers: Mapping[str, str] | None,
    payload: Payload, copy_headers: bool, settings: HttpSettings | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The arguments of the :func:`~joblane.http.send` job, every check done."""
    settings = settings or current_settings()
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise InvalidHttpTaskError(f"method must be 'GET' or 'POST', not {method!r}")
    method = method.upper()
    full = resolve_url(settings.app_url(), url, params)
    request = current_request()
    sent = copied_headers(request.headers) if request is not None and copy_headers else {}
    for name, value in check_headers(headers).items():
        sent = {k: v for k, v in sent.items() if k.lower() != name.lower()}
        sent[name] = value
    body = _body(method, payload, request.body if request is not None else b"",
                 request is not None, settings.max_body)  # fmt: skip
    if body is None:
        sent = {k: v for k, v in sent.items() if k.lower() != "content-type"}
    text, encoding = _encode(body)
    return {"method": method, "url": full, "headers": sorted(sent.items()), "body": text,
            "body_encoding": encoding}  # fmt: skip


def resolve_url(base: str, url: str, params: Params | None) -> str:
    """*url* resolved against *base*, with *params* appended to its query;
    InvalidHttpTaskError if it lies outside *base*."""
    if not isinstance(url, str) or not url:
        raise InvalidHttpTaskError(f"url must be a non-empty str, not {url!r}")
    _no_newline("url", url)
    joined = urljoin(base + "/", url)
    parts = urlsplit(joined)
    home = urlsplit(base)
    if parts.scheme not in ("http", "https"):
        raise InvalidHttpTaskError(f"url {url!r}: the scheme {parts.scheme!r} is not http or https")
    if (parts.scheme, parts.hostname, _port(parts)) != (home.scheme, home.hostname, _port(home)):
        raise InvalidHttpTaskError(
            f"url {url!r} is outside the app at {base!r} (another scheme, host or port)"
        )
    prefix = home.path.rstrip("/")
    if prefix and parts.path != prefix and not parts.path.startswith(prefix + "/"):
        raise InvalidHttpTaskError(f"url {url!r} is outside the app's path {prefix!r}")
    if parts.username or parts.password:
        raise InvalidHttpTaskError(f"url {url!r} may not carry a user or password")
    query = quote(parts.query, safe=_QUERY_SAFE)
    if params is not None:
        items = list(params.items()) if isinstance(params, Mapping) else list(params)
        extra = urlencode([(str(k), str(v)) for k, v in items])
        query = f"{query}&{extra}" if query and extra else query or extra
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))


def _port(parts: Any) -> int:
    return int(parts.port or (443 if parts.scheme == "https" else 80))


def check_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """*headers*, each name a token, each value free of CR, LF and NUL; the
    task headers are the worker's to set."""
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise InvalidHttpTaskError(f"headers must be a dict, not {type(headers).__name__}")
    checked: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not _TOKEN.match(name):
            raise InvalidHttpTaskError(f"header name {name!r} is not a valid HTTP token")
        if name.lower() in TASK_HEADERS:
            raise InvalidHttpTaskError(f"header {name!r} is set by the worker, not by add()")
        if not isinstance(value, str):
            raise InvalidHttpTaskError(
                f"header {name!r}: the value must be a str, not {type(value).__name__}"
            )
        _no_newline(f"header {name!r}", value)
        checked[name] = value
    return checked


def copied_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The current request's headers that a task carries on (see the module docstring)."""
    copied: dict[str, str] = {}
    for name, value in headers:
        if name.lower() in NOT_COPIED or not _TOKEN.match(name) or _has_newline(value):
            continue
        copied[name] = f"{copied[name]}, {value}" if name in copied else value
    return copied


def _has_newline(value: str) -> bool:
    return "\r" in value or "\n" in value or "\0" in value


def _no_newline(what: str, value: str) -> None:
    if _has_newline(value):
        raise InvalidHttpTaskError(f"{what}: {value[:60]!r} contains CR, LF or NUL")


def _body(
    method: str, payload: Payload, current: bytes | None, in_request: bool, limit: int
) -> bytes | None:
    if isinstance(payload, _Current):
        if method == "GET" or not in_request:
            return None
        if current is None:
            raise PayloadTooLargeError(
                f"the current request's body is over the limit of {limit} bytes "
                "(JOBLANE_HTTP_MAX_BODY), so it cannot be the task's payload"
            )
        body = current
    elif payload is None:
        return None
    elif isinstance(payload, str):
        body = payload.encode()
    elif isinstance(payload, bytes | bytearray):
        body = bytes(payload)
    else:
        raise InvalidHttpTaskError(
            f"payload must be bytes, str or None, not {type(payload).__name__}"
        )
    if method == "GET" and body:
        raise InvalidHttpTaskError("a GET task has no payload: use method='POST', or params")
    if len(body) > limit:
        raise PayloadTooLargeError(
            f"the task's payload is {len(body)} bytes, over the limit of {limit} bytes "
            "(JOBLANE_HTTP_MAX_BODY)"
        )
    return body


def _encode(body: bytes | None) -> tuple[str | None, str]:
    if body is None:
        return None, "utf-8"
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), "base64"
