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
* ``postgresql://user:password@host:port/database``, ``postgres://...`` - PostgreSQL
  (``joblane[postgres]``); options: ``schema``, ``pool_size``, ``retry_for``,
  ``connect_timeout``, ``pgbouncer`` (see :mod:`joblane.backends.postgres`).
* ``memory://`` - a new in-process backend (pass the object to share it).
* ``immediate://`` - jobs run in the caller at enqueue.

The scheme picks the factory through :data:`BUILTIN_BACKENDS`, else an entry
point of that name in the ``joblane.backends`` group (another package's
backend). :func:`backend_from_url` opens a new backend; :func:`shared_backend`
reuses one per URL in the process (what ``Queue`` and ``Job.fetch`` use when
given no backend).

Messages, log lines and reprs show a URL through :func:`redact_url`: never
its password.
"""

from __future__ import annotations

import importlib
import os
import re
import threading
from collections.abc import Callable, Mapping
from importlib import metadata

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


BackendFactory = Callable[[str], Backend]
"""Opens the backend a URL names: it takes the whole URL, options included."""

ENTRY_POINT_GROUP = "joblane.backends"
"""The entry-point group through which another package adds a URL scheme: an
entry point named after the scheme, whose object is a :data:`BackendFactory`."""

BUILTIN_BACKENDS: Mapping[str, str] = {
    "sqlite": "joblane.backends.sqlite:from_url",
    "redis": "joblane.backends.redis:from_url",
    "rediss": "joblane.backends.redis:from_url",
    "unix": "joblane.backends.redis:from_url",
    "postgresql": "joblane.backends.postgres:from_url",
    "postgres": "joblane.backends.postgres:from_url",
    "memory": "joblane.backends.memory:MemoryBackend",
    "immediate": "joblane.backends.immediate:ImmediateBackend",
}
"""scheme -> ``module:attribute`` of its factory, imported on first use. A
built-in scheme is not overridden by an entry point of the same name."""

_EXTRAS = {
    "redis": "redis", "rediss": "redis", "unix": "redis",
    "postgresql": "postgres", "postgres": "postgres",
}  # fmt: skip
"""Schemes whose backend needs an optional dependency: the extra that installs it."""


def url_scheme(url: str) -> str:
    """The scheme of *url*, lower-cased; ConfigurationError if it has none."""
    scheme, sep, _ = url.partition("://")
    if not sep or not scheme:
        raise ConfigurationError(f"invalid backend URL {redact_url(url)!r}: expected scheme://...")
    return scheme.lower()


def backend_factory(scheme: str, url: str | None = None) -> BackendFactory:
    """The factory of *scheme*: a built-in one, else the entry point of that name
    in the ``joblane.backends`` group (looked up only then). ConfigurationError
    for a scheme nothing provides (the message lists the known ones) or whose
    backend cannot be imported; *url* is named (redacted) in that message."""
    target = BUILTIN_BACKENDS.get(scheme)
    try:
        if target is not None:
            module, _, attribute = target.partition(":")
            factory: BackendFactory = getattr(importlib.import_module(module), attribute)
            return factory
        for entry_point in _entry_points():
            if entry_point.name == scheme:
                loaded: BackendFactory = entry_point.load()
                return loaded
    except ImportError as exc:
        extra = _EXTRAS.get(scheme)
        hint = f": pip install 'joblane[{extra}]'" if extra else ""
        raise ConfigurationError(f"the {scheme} backend cannot be imported{hint} ({exc})") from exc
    where = f" in {redact_url(url)!r}" if url else ""
    known = sorted({*BUILTIN_BACKENDS, *(entry_point.name for entry_point in _entry_points())})
    raise ConfigurationError(
        f"unknown backend URL scheme {scheme!r}{where}: known schemes are {', '.join(known)} "
        f"(another package adds one through the {ENTRY_POINT_GROUP!r} entry-point group)"
    )


def _entry_points() -> tuple[metadata.EntryPoint, ...]:
    return tuple(metadata.entry_points(group=ENTRY_POINT_GROUP))


def backend_from_url(url: str | None = None) -> Backend:
    """A new backend for *url* (see :func:`resolve_url`), made by the factory of
    its scheme (:func:`backend_factory`). The caller owns it: close it when done."""
    url = resolve_url(url)
    return backend_factory(url_scheme(url), url)(url)


_shared: dict[str, Backend] = {}
_shared_lock = threading.Lock()


def shared_backend(url: str | None = None) -> Backend:
    """This process's backend for *url* (see :func:`resolve_url`), opened on first
    use and then reused: what ``Queue(...)`` and ``Job.fetch(...)`` use when given
    no backend, so that they do not connect (and, on Redis, load the scripts and
    check the server) on every call.

    Thread-safe. Keyed by the URL's exact text. A backend that was closed is
    replaced by a new one. A backend confined to its object (``memory://``,
    ``immediate://``: not ``shared_between_processes``) is never reused: each call
    gives a new one, as :func:`backend_from_url` does. After ``os.fork()`` the
    child starts with no shared backends (it opens its own; the parent's are left
    to the parent, unclosed).
    """
    url = resolve_url(url)
    with _shared_lock:
        backend = _shared.get(url)
        if backend is not None and not getattr(backend, "closed", False):
            return backend
        backend = backend_from_url(url)
        if backend.capabilities.shared_between_processes:
            _shared[url] = backend
        return backend


def _forget_shared_after_fork() -> None:
    global _shared, _shared_lock
    _shared = {}
    _shared_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_shared_after_fork)


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
