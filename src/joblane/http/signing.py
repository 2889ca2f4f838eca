"""The signature of an HTTP task's request: pure functions, ``now`` passed in.

The worker sends, with each request::

    X-Task-Id: <the job id>
    X-Task-User-Id: <the enqueuer's user id>          (absent: enqueued by no one)
    X-Task-Signature: t=<unix seconds>,n=<nonce>,v1=<hex HMAC-SHA256>

The HMAC (key: the first secret) is over these lines, joined by ``\\n``::

    joblane-http-v1
    <task id>
    <user id, or empty>
    <METHOD>
    <the URL's path, percent-decoded, and "?" and its raw query if it has one>
    <hex SHA-256 of the body>
    <t>
    <n>

The URL's scheme and host are left out on purpose: a proxy in front of the
app rewrites them, and the secret is the app's own. The nonce is new for each
request sent (each attempt, each redirect hop), so a retry of the same task
is not taken for a replay; a verifier refuses a nonce it has seen within the
window (:mod:`joblane.http.replay`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from joblane.errors import ReplayedTaskRequestError, TaskRequestError

TASK_ID_HEADER = "X-Task-Id"
USER_ID_HEADER = "X-Task-User-Id"
SIGNATURE_HEADER = "X-Task-Signature"
TASK_HEADERS = frozenset(h.lower() for h in (TASK_ID_HEADER, USER_ID_HEADER, SIGNATURE_HEADER))
"""The headers (lower case) that make a request a task request."""

VERSION = "joblane-http-v1"
_SIGNATURE = re.compile(r"^t=(\d{1,12}),n=([0-9a-f]{16,64}),v1=([0-9a-f]{64})$")


@dataclass(frozen=True, slots=True)
class VerifiedTask:
    """A task request whose signature holds: its job id and the user who
    enqueued it (None: no one). Only a verifier makes one."""

    task_id: str
    user_id: str | None
    nonce: str
    timestamp: int


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def target(path: str, query: str) -> str:
    """What is signed of the URL: the percent-decoded *path*, and the raw *query*."""
    return f"{path}?{query}" if query else path


def signature(
    secret: str, task_id: str, user_id: str | None, method: str, url_target: str,
    digest: str, timestamp: int, nonce: str,
) -> str:  # fmt: skip
    """The hex HMAC-SHA256 of the request's lines (see the module docstring)."""
    text = "\n".join(
        (VERSION, task_id, user_id or "", method.upper(), url_target, digest, str(timestamp), nonce)
    )
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def sign(
    secret: str, task_id: str, user_id: str | None, method: str, url_target: str,
    body: bytes, timestamp: int, nonce: str,
) -> dict[str, str]:  # fmt: skip
    """The task headers of one request."""
    mac = signature(secret, task_id, user_id, method, url_target, body_digest(body), timestamp,
                    nonce)  # fmt: skip
    headers = {TASK_ID_HEADER: task_id, SIGNATURE_HEADER: f"t={timestamp},n={nonce},v1={mac}"}
    if user_id is not None:
        headers[USER_ID_HEADER] = user_id
    return headers


def lower_headers(headers: Iterable[tuple[str, str]] | Mapping[str, str]) -> dict[str, str]:
    """Headers by lower-case name; a task header given twice is refused."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    found: dict[str, str] = {}
    for name, value in items:
        key = name.lower()
        if key in TASK_HEADERS and key in found:
            raise TaskRequestError(f"the {name} header is given more than once")
        found.setdefault(key, value)
    return found


def check(
    headers: Iterable[tuple[str, str]] | Mapping[str, str],
    method: str,
    url_target: str,
    body: bytes,
    secrets: Iterable[str],
    now: float,
    window: float,
) -> VerifiedTask | None:
    """The verified task of a request, None if it carries no task header;
    TaskRequestError (ReplayedTaskRequestError for a time outside *window*)
    if it carries one but cannot be trusted. Replays of a nonce are the
    verifier's to refuse (they need a store)."""
    found = lower_headers(headers)
    if TASK_HEADERS.isdisjoint(found):
        return None
    task_id = found.get(TASK_ID_HEADER.lower())
    user_id = found.get(USER_ID_HEADER.lower())
    raw = found.get(SIGNATURE_HEADER.lower())
    if raw is None:
        raise TaskRequestError(f"a task request without a {SIGNATURE_HEADER} header")
    if not task_id:
        raise TaskRequestError(f"a task request without a {TASK_ID_HEADER} header")
    match = _SIGNATURE.match(raw.strip())
    if match is None:
        raise TaskRequestError(f"the {SIGNATURE_HEADER} header is not t=...,n=...,v1=...")
    timestamp, nonce, mac = int(match[1]), match[2], match[3]
    secrets = list(secrets)
    if not secrets:
        raise TaskRequestError("this app has no secret to verify task requests with")
    digest = body_digest(body)
    if not any(
        hmac.compare_digest(
            mac, signature(secret, task_id, user_id, method, url_target, digest, timestamp, nonce)
        )
        for secret in secrets
    ):
        raise TaskRequestError("the task request's signature does not match")
    if abs(now - timestamp) > window:
        raise ReplayedTaskRequestError(
            f"the task request was signed {now - timestamp:.0f} s from now, outside the "
            f"window of {window:g} s"
        )
    return VerifiedTask(task_id, user_id, nonce, timestamp)
