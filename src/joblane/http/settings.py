"""An app's HTTP-task settings: where its views are, and the shared secrets.

Each setting comes from :func:`configure` if it was given there, else from the
environment, read when it is needed (so a worker started with the variables
set needs no code):

=========================  ======================================  ===========
setting                    environment                             default
=========================  ======================================  ===========
``base_url``               ``JOBLANE_HTTP_BASE_URL``               none (add refuses)
``secrets``                ``JOBLANE_HTTP_SECRET`` (comma-         none (sign / verify refuse)
                           separated: the first signs, all verify)
``window``                 ``JOBLANE_HTTP_WINDOW``                 300 seconds
``timeout``                ``JOBLANE_HTTP_TIMEOUT``                30 seconds
``max_body``               ``JOBLANE_HTTP_MAX_BODY``               262144 bytes
=========================  ======================================  ===========
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from joblane.errors import ConfigurationError

DEFAULT_WINDOW = 300.0
"""Seconds a signed request stays valid (either side of the app's clock)."""
DEFAULT_TIMEOUT = 30.0
"""Seconds the worker waits to connect, and between bytes of the response."""
DEFAULT_MAX_BODY = 256 * 1024
"""Bytes of a task's body (the payload), refused above at add."""
MIN_SECRET = 16
"""Characters of a secret, at least."""


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """One app's settings (see the module docstring)."""

    base_url: str | None = None
    secrets: tuple[str, ...] = ()
    window: float = DEFAULT_WINDOW
    timeout: float = DEFAULT_TIMEOUT
    max_body: int = DEFAULT_MAX_BODY

    def signing_secret(self) -> str:
        """The secret that signs (the first); ConfigurationError if none is set."""
        if not self.secrets:
            raise ConfigurationError(
                "no secret to sign HTTP tasks with: set JOBLANE_HTTP_SECRET or "
                "joblane.http.configure(secrets=[...])"
            )
        return self.secrets[0]

    def app_url(self) -> str:
        """The base URL; ConfigurationError if none is set."""
        if self.base_url is None:
            raise ConfigurationError(
                "no base URL for HTTP tasks: set JOBLANE_HTTP_BASE_URL or "
                "joblane.http.configure(base_url=...)"
            )
        return self.base_url


_lock = threading.Lock()
_given: dict[str, object] = {}


def configure(
    *,
    base_url: str | None = None,
    secrets: Sequence[str] | str | None = None,
    window: float | None = None,
    timeout: float | None = None,
    max_body: int | None = None,
) -> HttpSettings:
    """Set this process's HTTP-task settings; what is not given (None) keeps
    what an earlier call gave, else comes from the environment. Checked here:
    ConfigurationError names the setting. Returns the settings now in force."""
    given = {
        "base_url": None if base_url is None else check_base_url(base_url),
        "secrets": None if secrets is None else check_secrets(secrets, "secrets"),
        "window": None if window is None else _positive("window", window),
        "timeout": None if timeout is None else _positive("timeout", timeout),
        "max_body": None if max_body is None else _size("max_body", max_body),
    }
    with _lock:
        _given.update({key: value for key, value in given.items() if value is not None})
    return current_settings()


def reset() -> None:
    """Forget what :func:`configure` set (tests; the environment applies again)."""
    with _lock:
        _given.clear()


def current_settings(env: Mapping[str, str] | None = None) -> HttpSettings:
    """The settings in force: :func:`configure`'s, else the environment's."""
    env = os.environ if env is None else env
    settings = from_env(env)
    with _lock:
        given = dict(_given)
    return replace(settings, **given)  # type: ignore[arg-type]  # checked in configure


def from_env(env: Mapping[str, str]) -> HttpSettings:
    """The settings the environment gives (ConfigurationError naming the variable)."""
    base = env.get("JOBLANE_HTTP_BASE_URL") or None
    raw_secrets = env.get("JOBLANE_HTTP_SECRET", "")
    secrets = check_secrets(raw_secrets, "JOBLANE_HTTP_SECRET") if raw_secrets.strip() else ()
    return HttpSettings(
        base_url=None if base is None else check_base_url(base, "JOBLANE_HTTP_BASE_URL"),
        secrets=secrets,
        window=_env_number(env, "JOBLANE_HTTP_WINDOW", DEFAULT_WINDOW),
        timeout=_env_number(env, "JOBLANE_HTTP_TIMEOUT", DEFAULT_TIMEOUT),
        max_body=int(_env_number(env, "JOBLANE_HTTP_MAX_BODY", DEFAULT_MAX_BODY, whole=True)),
    )


def check_base_url(url: object, name: str = "base_url") -> str:
    """*url* if it is an http(s) URL with a host and no query or fragment."""
    if not isinstance(url, str):
        raise ConfigurationError(f"{name} must be a URL (str), not {type(url).__name__}")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"{name} {url!r} must be an http:// or https:// URL with a host")
    if parts.query or parts.fragment:
        raise ConfigurationError(f"{name} {url!r} must have no query or fragment")
    return url.rstrip("/")


def check_secrets(secrets: Sequence[str] | str, name: str) -> tuple[str, ...]:
    """The secrets (a comma-separated str or a sequence), each at least
    :data:`MIN_SECRET` characters; the first one signs."""
    items = secrets.split(",") if isinstance(secrets, str) else list(secrets)
    checked = []
    for item in items:
        if not isinstance(item, str):
            raise ConfigurationError(f"{name}: a secret must be a str, not {type(item).__name__}")
        item = item.strip()
        if len(item) < MIN_SECRET:
            raise ConfigurationError(
                f"{name}: each secret must be at least {MIN_SECRET} characters "
                f"(one is {len(item)}); use e.g. python -c 'import secrets; "
                "print(secrets.token_hex(32))'"
            )
        checked.append(item)
    if not checked:
        raise ConfigurationError(f"{name}: give at least one secret")
    return tuple(checked)


def _positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationError(f"{name} must be a number of seconds, not {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ConfigurationError(f"{name} must be a positive number of seconds, not {value!r}")
    return float(value)


def _size(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(f"{name} must be a number of bytes (int >= 0), not {value!r}")
    return value


def _env_number(env: Mapping[str, str], name: str, default: float, whole: bool = False) -> float:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a number") from None
    return _size(name, value) if whole else _positive(name, value)
