"""``joblane migrate``: bring a backend's stored data to this joblane's version.

Producers and workers refuse data of an older version (SchemaVersionError)
and never migrate it themselves; a deploy runs ``joblane migrate`` once, before
the new code starts (``joblane migrate --check`` says whether it is needed).
The SQLite schema is migrated by ``joblane.backends.sqlite.migrate``, the
PostgreSQL schema by ``joblane.backends.postgres.migrate``, the Redis
key layout by ``joblane.backends.redis.layout``. Other backends (``memory://``,
``immediate://``, a scheme added by another package) store nothing to migrate.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping

from joblane.config import backend_factory, resolve_url, url_scheme

Migrator = Callable[..., list[str]]

MIGRATORS: Mapping[str, str] = {
    "sqlite": "joblane.backends.sqlite.migrate:migrate_url",
    "postgresql": "joblane.backends.postgres.migrate:migrate_url",
    "postgres": "joblane.backends.postgres.migrate:migrate_url",
    "redis": "joblane.backends.redis.layout:migrate_url",
    "rediss": "joblane.backends.redis.layout:migrate_url",
    "unix": "joblane.backends.redis.layout:migrate_url",
}
"""scheme -> ``module:function(url, *, apply) -> steps``, imported on first use."""


def migrate(url: str | None = None, *, apply: bool = True) -> list[str]:
    """Migrate the data of the backend at *url* (see :func:`joblane.config.resolve_url`)
    to the current version, each step idempotent and atomic; one line per step
    done. Without *apply*: the steps a migration would do, doing none. An empty
    list: up to date. ConfigurationError for an unknown scheme, SchemaVersionError
    for data of a newer joblane."""
    url = resolve_url(url)
    scheme = url_scheme(url)
    target = MIGRATORS.get(scheme)
    if target is None:
        backend_factory(scheme, url)  # an unknown scheme: the error lists the known ones
        return []
    module, _, name = target.partition(":")
    migrator: Migrator = getattr(importlib.import_module(module), name)
    return migrator(url, apply=apply)
