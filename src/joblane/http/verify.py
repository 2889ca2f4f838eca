"""Checking a task request before the app sees its user: framework-neutral.

:class:`Verifier` is what every adapter calls (the ASGI and WSGI middlewares,
the Django middleware, a Zope PAS plugin): give it the request's method,
decoded path, raw query, headers and body, and it returns

* None for a request without any task header (an ordinary request),
* a :class:`~joblane.http.signing.VerifiedTask` (the job id and the trusted
  user id) for a task request whose signature holds, whose time is within
  the window, and whose nonce it has not seen before,
* or raises :class:`~joblane.errors.TaskRequestError` (401 for the adapter;
  :class:`~joblane.errors.ReplayedTaskRequestError` for a replay).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from joblane.errors import ReplayedTaskRequestError, TaskRequestError
from joblane.http.replay import ReplayStore, replay_store
from joblane.http.settings import check_secrets, current_settings
from joblane.http.signing import VerifiedTask, check, target

Headers = Iterable[tuple[str, str]] | Mapping[str, str]


class Verifier:
    """Verifies task requests with *secrets* (default: the settings' secrets,
    read at each call) and remembers nonces in *replay* (default:
    ``JOBLANE_HTTP_REPLAY_URL``, else this process's memory)."""

    def __init__(
        self,
        secrets: Sequence[str] | str | None = None,
        *,
        window: float | None = None,
        replay: ReplayStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secrets = None if secrets is None else check_secrets(secrets, "secrets")
        self._window = window
        self.replay = (
            replay
            if replay is not None
            else replay_store(os.environ.get("JOBLANE_HTTP_REPLAY_URL"))
        )
        self.clock = clock

    def verify(
        self, method: str, path: str, query: str, headers: Headers, body: bytes
    ) -> VerifiedTask | None:
        """See the module docstring."""
        settings = current_settings()
        secrets = self._secrets if self._secrets is not None else settings.secrets
        window = self._window if self._window is not None else settings.window
        now = self.clock()
        task = check(headers, method, target(path, query), body, secrets, now, window)
        if task is None:
            return None
        try:
            first = self.replay.first_seen(f"{task.task_id}:{task.nonce}", now,
                                           task.timestamp + window + 1)  # fmt: skip
        except Exception as error:
            raise TaskRequestError(
                f"the replay store failed, so the request cannot be trusted: "
                f"{type(error).__name__}: {error}"
            ) from error
        if not first:
            raise ReplayedTaskRequestError(
                f"task {task.task_id!r}: this request (nonce {task.nonce}) was seen before"
            )
        return task


_default: list[Verifier] = []
_lock = threading.Lock()


def default_verifier() -> Verifier:
    """This process's verifier (settings from joblane.http.configure / the environment)."""
    with _lock:
        if not _default:
            _default.append(Verifier())
        return _default[0]


def verify(
    method: str, path: str, query: str, headers: Headers, body: bytes,
    *, verifier: Verifier | None = None,
) -> VerifiedTask | None:  # fmt: skip
    """:meth:`Verifier.verify` with *verifier* (default: :func:`default_verifier`)."""
    return (verifier or default_verifier()).verify(method, path, query, headers, body)
