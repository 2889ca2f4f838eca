"""The job that sends an HTTP task's request: :func:`send`, run by any worker
that imports ``joblane.http`` (``joblane worker --import joblane.http``).

Outcome of one attempt:

* a 2xx response finishes the job; its result is :func:`response_result`
  (status, selected headers, at most :data:`EXCERPT` bytes of the body);
* a 5xx response, a timeout or a connection error raises
  :class:`~joblane.errors.HttpTaskRetryableError`: retried by the job's
  retry policy (default :data:`DEFAULT_RETRY`);
* a 4xx response, a redirect to another origin, too many redirects, or a URL
  outside this worker's ``JOBLANE_HTTP_BASE_URL`` (when it has one) raise
  :class:`~joblane.errors.HttpTaskRefusedError`: failed at once, the status
  and the excerpt in its reason.

A redirect within the same origin (scheme, host, port) is followed, up to
:data:`MAX_REDIRECTS` hops, each hop signed anew; a 303 (and a 301/302 after
a POST) continues as a GET without a body, as browsers do.
"""

from __future__ import annotations

import base64
import secrets
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urljoin, urlsplit

from joblane.core.retry import Retry
from joblane.errors import HttpTaskRefusedError, HttpTaskRetryableError
from joblane.http.settings import current_settings
from joblane.http.signing import sign, target
from joblane.tasks import job
from joblane.worker.run import current_job

if TYPE_CHECKING:
    import httpx

EXCERPT = 2048
"""Bytes of a response's body kept in the result or the failure reason."""
MAX_REDIRECTS = 5
KEPT_HEADERS = ("content-type", "content-length", "location", "etag", "last-modified",
                "retry-after")  # fmt: skip
"""Response headers a result keeps."""
DEFAULT_RETRY = Retry(max=8, interval=5, factor=2, cap=600, jitter=0.2,
                      on=(HttpTaskRetryableError,))  # fmt: skip
"""5, 10, 20... seconds (at most 10 minutes) between attempts, 8 retries: about
25 minutes of an app being down before the task fails."""


@job(retry=DEFAULT_RETRY, forwards_identity=True)
def send(
    method: str,
    url: str,
    headers: list[list[str]] | list[tuple[str, str]],
    body: str | None = None,
    body_encoding: str = "utf-8",
) -> dict[str, Any]:
    """Send the request of an HTTP task, signed as its job and enqueuer (see
    the module docstring); its arguments are what :func:`joblane.http.add` built."""
    import httpx  # the http extra: only a sending worker needs it

    running = current_job()
    if running is None:
        raise HttpTaskRefusedError("joblane.http.send runs as a job only (it signs its job id)")
    user_id = None if running.enqueued_by is None else running.enqueued_by.user_id
    settings = current_settings()
    secret = settings.signing_secret()
    _inside_app(url, settings.base_url)
    content = b"" if body is None else _decode(body, body_encoding)
    timeout = httpx.Timeout(settings.timeout)
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            parsed = httpx.URL(url)
            signed = sign(secret, running.id, user_id, method,
                          target(unquote(parsed.path), parsed.query.decode("ascii")),
                          content, int(time.time()), secrets.token_hex(16))  # fmt: skip
            sent = [(str(k), str(v)) for k, v in headers]
            sent += list(signed.items())
            status, kept, excerpt, truncated = _exchange(
                client, method, url, sent, content if method == "POST" else None
            )
            location = kept.get("location")
            if status not in (301, 302, 303, 307, 308) or location is None:
                break
            url, method, content = _follow(url, location, status, method, content)
        else:
            raise HttpTaskRefusedError(f"more than {MAX_REDIRECTS} redirects from {url}", status)
    return _settle(method, url, status, kept, excerpt, truncated)


def _exchange(
    client: httpx.Client, method: str, url: str, headers: list[tuple[str, str]],
    content: bytes | None,
) -> tuple[int, dict[str, str], str, bool]:  # fmt: skip
    """One request: the status, the kept headers, the body's excerpt (and whether it was cut)."""
    import httpx

    try:
        with client.stream(method, url, headers=headers, content=content) as response:
            kept = {k: response.headers[k] for k in KEPT_HEADERS if k in response.headers}
            data = b""
            truncated = False
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) > EXCERPT:
                    truncated = True
                    break
            return (response.status_code, kept,
                    data[:EXCERPT].decode("utf-8", "replace"), truncated)  # fmt: skip
    except httpx.TimeoutException as error:
        raise HttpTaskRetryableError(
            f"timeout: {method} {url}: {type(error).__name__}: {error}"
        ) from None
    except httpx.TransportError as error:
        raise HttpTaskRetryableError(
            f"no response: {method} {url}: {type(error).__name__}: {error}"
        ) from None


def _follow(
    url: str, location: str, status: int, method: str, content: bytes
) -> tuple[str, str, bytes]:
    nxt = urljoin(url, location)
    if _origin(nxt) != _origin(url):
        raise HttpTaskRefusedError(
            f"HTTP {status} from {method} {url}: a redirect to another origin "
            f"({location}) is not followed", status,
        )  # fmt: skip
    if status == 303 or (status in (301, 302) and method == "POST"):
        return nxt, "GET", b""
    return nxt, method, content


def _settle(
    method: str, url: str, status: int, kept: dict[str, str], excerpt: str, truncated: bool
) -> dict[str, Any]:
    shown = f"HTTP {status} from {method} {url}: {excerpt[:500]!r}"
    if 200 <= status < 300:
        return {"status": status, "method": method, "url": url, "headers": kept,
                "body": excerpt, "truncated": truncated}  # fmt: skip
    if status >= 500:
        raise HttpTaskRetryableError(shown, status)
    raise HttpTaskRefusedError(shown, status)


def _origin(url: str) -> tuple[str, str | None, int]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, int(parts.port or (443 if parts.scheme == "https" else 80))


def _inside_app(url: str, base: str | None) -> None:
    """A worker that knows the app's base URL sends nowhere else."""
    if base is None:
        return
    prefix = urlsplit(base).path.rstrip("/")
    path = urlsplit(url).path
    if _origin(url) != _origin(base) or (
        prefix and path != prefix and not path.startswith(prefix + "/")
    ):
        raise HttpTaskRefusedError(f"{url} is outside this worker's JOBLANE_HTTP_BASE_URL {base}")


def _decode(body: str, encoding: str) -> bytes:
    if encoding == "base64":
        return base64.b64decode(body)
    return body.encode("utf-8")
