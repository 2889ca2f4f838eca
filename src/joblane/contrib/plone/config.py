"""Where the Plone instance and the Plone worker find the job backend.

=================  =====================================================  ============  ===========
order              setting                                                instance      worker
=================  =====================================================  ============  ===========
1                  ``JOBLANE_URL`` (any joblane URL)                      yes           yes
2                  ``PLONE_REDIS_DSN`` (seed 000: a Redis URL)            yes           yes
3                  zope.conf ``<product-config joblane>`` ``url ...``     yes           yes
4                  the registry record ``joblane.url`` (control panel)    yes           no
5                  ``redis://localhost:6379/0`` (seed 000's fallback)     yes           no: error
=================  =====================================================  ============  ===========

The worker has no registry (it reads no site before a job) and, as seed 000
says, no fallback: without one of the first three it stops with a
:class:`~joblane.errors.ConfigurationError` naming them. The queues the REST
services list are ``JOBLANE_API_QUEUES`` (default important,normal,low).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from joblane.backends.base import Backend
from joblane.config import backend_from_url, shared_backend
from joblane.errors import ConfigurationError

ENV_URL = "JOBLANE_URL"
ENV_REDIS_DSN = "PLONE_REDIS_DSN"
PRODUCT_CONFIG = "joblane"
REGISTRY_RECORD = "joblane.url"
INSTANCE_FALLBACK = "redis://localhost:6379/0"


def product_config() -> Mapping[str, str]:
    """zope.conf's ``<product-config joblane>`` section ({} without one or without Zope)."""
    try:
        from App.config import getConfiguration
    except ImportError:
        return {}
    sections: Any = getattr(getConfiguration(), "product_config", None) or {}
    section = sections.get(PRODUCT_CONFIG) or {}
    return {str(k): str(v) for k, v in section.items()}


def _from_environment(env: Mapping[str, str]) -> str | None:
    for name in (ENV_URL, ENV_REDIS_DSN):
        value = env.get(name, "").strip()
        if value:
            return value
    value = product_config().get("url", "").strip()
    return value or None


def registry_url() -> str | None:
    """The ``joblane.url`` registry record of the current site, if set."""
    try:
        from plone.registry.interfaces import IRegistry
        from zope.component import queryUtility
    except ImportError:
        return None
    registry = queryUtility(IRegistry)
    if registry is None:
        return None
    value = registry.get(REGISTRY_RECORD)
    return value.strip() if isinstance(value, str) and value.strip() else None


def instance_url(env: Mapping[str, str] | None = None) -> str:
    """The backend URL of the Plone instance (rows 1-5 of the table)."""
    env = os.environ if env is None else env
    return _from_environment(env) or registry_url() or INSTANCE_FALLBACK


def worker_url(env: Mapping[str, str] | None = None) -> str:
    """The backend URL of the Plone worker (rows 1-3); ConfigurationError without one."""
    env = os.environ if env is None else env
    url = _from_environment(env)
    if url is None:
        raise ConfigurationError(
            f"the Plone worker needs its backend: set {ENV_REDIS_DSN} (seed 000: "
            f'export {ENV_REDIS_DSN}="redis://localhost:6379/0") or {ENV_URL}, or '
            f"url in zope.conf's <product-config {PRODUCT_CONFIG}>"
        )
    return url


_backends: dict[str, Backend] = {}
_lock = threading.Lock()


def instance_backend(url: str | None = None) -> Backend:
    """The instance's backend for *url* (default :func:`instance_url`): one per
    URL for the whole process, whatever its threads (a ``memory://`` or
    ``immediate://`` one too, which joblane's ``shared_backend`` does not keep:
    in a Zope instance every request thread must see the same jobs)."""
    url = instance_url() if url is None else url
    backend = shared_backend(url)
    if backend.capabilities.shared_between_processes:
        return backend
    with _lock:
        kept = _backends.get(url)
        if kept is None:
            kept = _backends[url] = backend_from_url(url)
        return kept
