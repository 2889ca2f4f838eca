"""Settings from explicit arguments or the environment, and backends from URLs.

==================== ====================================== ======================
Environment variable Meaning                                Default
==================== ====================================== ======================
JOBLANE_URL          the backend URL                        ``sqlite:///joblane.db``
JOBLANE_MAX_PAYLOAD  bytes of encoded arguments per job     524288 (512 KiB)
JOBLANE_MAX_RESULT   bytes of an encoded return value kept  1048576 (1 MiB)
JOBLANE_ALLOW        module prefixes a worker may run,      (none)
                     comma-separated
JOBLANE_IMPORTS      modules a worker imports at start,     (none)
                     comma-separated
==================== ====================================== ======================

Backend URLs:

* ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` - the default;
  ``?durability=normal`` trades power-loss durability of enqueues for speed.
* ``redis://host:port/db``, ``rediss://...``, ``unix:///path/redis.sock`` - Redis 7+,
  shared by machines (``joblane[redis]``); options: ``prefix``, ``retry_for``,
  ``allow_eviction`` (see :mod:`joblane.backends.redis`).
* ``memory://`` - a new in-process backend (pass the object to share it).
* ``immediate://`` - jobs run in the caller at enqueue.

Messages, log lines and reprs show a URL through :func:`redact_url`: never
its password.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from joblane.backends.base import Backend
from joblane.core.job import DEFAULT_MAX_PAYLOAD
from joblane.core.limits import DEFAULT_MAX_RESULT
from joblane.errors import ConfigurationError

ENV_URL = "JOBLANE_URL"
DEFAULT_URL = "sqlite:///joblane.db"


_SECRET_OPTION = re.compile(r"pass|pwd|secret|token|auth|credential|key$", re.IGNORECASE)
"""Names of URL query options whose values are credentials (password,
ssl_password, token, api_key, ...)."""
_HOST_PORT = re.compile(r"(\[[^\]]*\]|[^:@\[\]]*)(:\d*)?")
REDACTED = "***"


def redact_url(url: str) -> str:
    """*url* fit for a message, a log line or a ``repr``: the password of its
    user part and the values of credential-like options become ``***``.

    ``redis://user:secret@h:6379/0?ssl_password=x`` gives
    ``redis://user:***@h:6379/0?ssl_password=***``. It reads the text alone,
    so it never raises, whatever *url* holds (a bad port, a password with an
    unencoded ``/``, ``?``, ``#`` or ``@``, no scheme).
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    user, rest = _redact_user(rest)
    path, query_sep, query = rest.partition("?")
    query, fragment_sep, fragment = query.partition("#")
    query = "&".join(_redact_option(item) for item in query.split("&"))
    return f"{scheme}{sep}{user}{path}{query_sep}{query}{fragment_sep}{fragment}"


def _redact_user(rest: str) -> tuple[str, str]:
    """The user part of *rest* (what follows ``scheme://``), redacted and with
    its ``@``, and what comes after it."""
    end = next((i for i, char in enumerate(rest) if char in "/?#"), len(rest))
    authority = rest[:end]
    if "@" in authority:
        at = authority.rindex("@")
    elif "@" in rest and not _HOST_PORT.fullmatch(authority):
        at = rest.rindex("@")  # a password holding an unencoded / ? or #
    else:
        return "", rest
    name, colon, _ = rest[:at].partition(":")
    user = f"{name}:{REDACTED}@" if colon else rest[: at + 1]
    return user, rest[at + 1 :]


def _redact_option(item: str) -> str:
    name, eq, _ = item.partition("=")
    return f"{name}={REDACTED}" if eq and _SECRET_OPTION.search(name) else item


def resolve_url(url: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """The explicit *url*, else ``JOBLANE_URL``, else the SQLite default."""
    env = os.environ if env is None else env
    return url or env.get(ENV_URL) or DEFAULT_URL


def backend_from_url(url: str | None = None) -> Backend:
    """A backend for *url* (see :func:`resolve_url`)."""
    url = resolve_url(url)
    scheme, sep, _ = url.partition("://")
    if not sep:
        raise ConfigurationError(f"invalid backend URL {redact_url(url)!r}: expected scheme://...")
    scheme = scheme.lower()
    if scheme == "sqlite":
        from joblane.backends.sqlite import from_url

        return from_url(url)
    if scheme == "memory":
        from joblane.backends.memory import MemoryBackend

        return MemoryBackend(url)
    if scheme == "immediate":
        from joblane.backends.immediate import ImmediateBackend

        return ImmediateBackend(url)
    if scheme in ("redis", "rediss", "unix"):
        try:
            from joblane.backends.redis import from_url as redis_from_url
        except ImportError as exc:
            raise ConfigurationError(
                f"the {scheme} backend needs redis-py: pip install 'joblane[redis]' ({exc})"
            ) from exc
        return redis_from_url(url)
    if scheme in ("postgres", "postgresql"):
        raise ConfigurationError(f"the {scheme} backend is not available in this version")
    raise ConfigurationError(
        f"unknown backend URL scheme {scheme!r} in {redact_url(url)!r}: expected sqlite, "
        "redis, rediss, unix, memory or immediate"
    )


def max_payload(env: Mapping[str, str] | None = None) -> int:
    return _bytes("JOBLANE_MAX_PAYLOAD", DEFAULT_MAX_PAYLOAD, env)


def max_result(env: Mapping[str, str] | None = None) -> int:
    """Bytes of an encoded return value a job's result keeps (``JOBLANE_MAX_RESULT``);
    a larger one is replaced by a marker saying so."""
    return _bytes("JOBLANE_MAX_RESULT", DEFAULT_MAX_RESULT, env)


def _bytes(name: str, default: int, env: Mapping[str, str] | None) -> int:
    env = os.environ if env is None else env
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number of bytes, not {raw!r}") from None
    if value <= 0:
        raise ConfigurationError(f"{name} must be > 0, not {value}")
    return value


def env_list(name: str, env: Mapping[str, str] | None = None) -> list[str]:
    env = os.environ if env is None else env
    return [item.strip() for item in env.get(name, "").split(",") if item.strip()]
