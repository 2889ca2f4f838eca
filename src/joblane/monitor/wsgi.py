"""The monitoring API as a WSGI app, for WSGI hosts (Flask, Pyramid, Zope).

The ASGI app of :func:`~joblane.monitor.api.create_api` runs behind a2wsgi's
``ASGIMiddleware``, which keeps one event loop in a background thread; the
endpoints still run in Starlette's threadpool. Mount it at a path of the host
(Werkzeug's ``DispatcherMiddleware``, Pyramid's ``wsgiapp2``): the host's
``SCRIPT_NAME`` becomes the API's root path.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from a2wsgi import ASGIMiddleware
from a2wsgi.asgi_typing import ASGIApp

from joblane.backends.base import ReadOnlyBackend
from joblane.core.queues import DEFAULT_QUEUES
from joblane.monitor.api import create_api
from joblane.monitor.auth import Auth


def create_wsgi_app(
    reader: ReadOnlyBackend,
    *,
    prefix: str = "",
    queues: Iterable[str] = DEFAULT_QUEUES,
    auth: Auth,
) -> ASGIMiddleware:
    """:func:`~joblane.monitor.api.create_api`, as a WSGI callable."""
    app = create_api(reader, prefix=prefix, queues=queues, auth=auth)
    # Starlette's and a2wsgi's type hints spell the same ASGI interface differently.
    return ASGIMiddleware(cast(ASGIApp, app))
