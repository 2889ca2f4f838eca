"""HTTP-request tasks: a task is a signed request to the app's own view,
sent by a worker as the user who queued it (docs/how-to/http-tasks.md).

::

    producer (the app)                 worker                       the app again
    joblane.http.add("/@@view")  ->    joblane.http.send job  ->    middleware: verify()
      stored with the transaction        X-Task-Id, X-Task-User-Id,   401, or the view runs
      enqueued_by = the user             X-Task-Signature (HMAC)      as that user

Modules: :mod:`~joblane.http.settings` (base URL, secrets), :mod:`~joblane.http.producer`
(add / aadd), :mod:`~joblane.http.sender` (send), :mod:`~joblane.http.signing`
(the signature, pure), :mod:`~joblane.http.verify` and :mod:`~joblane.http.replay`
(the framework-neutral verifier), :mod:`~joblane.http.current` (the request being
served), and the adapters :mod:`~joblane.http.asgi`, :mod:`~joblane.http.wsgi`,
:mod:`~joblane.http.django`.
"""

from joblane.http.current import CurrentRequest, current_request, current_task
from joblane.http.producer import CURRENT, aadd, add
from joblane.http.replay import (
    MemoryReplayStore,
    RedisReplayStore,
    ReplayStore,
    SQLiteReplayStore,
    replay_store,
)
from joblane.http.sender import send
from joblane.http.settings import HttpSettings, configure, current_settings
from joblane.http.signing import VerifiedTask
from joblane.http.verify import Verifier, default_verifier, verify

__all__ = [
    "CURRENT",
    "CurrentRequest",
    "HttpSettings",
    "MemoryReplayStore",
    "RedisReplayStore",
    "ReplayStore",
    "SQLiteReplayStore",
    "VerifiedTask",
    "Verifier",
    "aadd",
    "add",
    "configure",
    "current_request",
    "current_settings",
    "current_task",
    "default_verifier",
    "replay_store",
    "send",
    "verify",
]
