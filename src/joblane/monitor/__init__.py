"""The read-only monitoring REST API (seed 000's ``@rq-queues`` and ``@rq-job``).

::

    from joblane.monitor import Auth, create_api

    api = create_api(backend, prefix="/Plone", auth=Auth.from_env())

Needs the ``monitor`` extra (``pip install 'joblane[monitor]'``): Starlette,
uvicorn and a2wsgi. Modules: ``api`` (routes and endpoints), ``schemas`` (the
JSON shapes), ``auth`` (Bearer and Basic credentials), ``guard`` (the checks
before an endpoint), ``responses`` (JSON and the error shape), ``wsgi`` (the
WSGI form), ``openapi.json`` (the API's description), ``views`` and ``schemas`` (the
endpoints' answers and shapes without a web framework, which the Plone
services share).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from joblane.monitor.api import create_api
    from joblane.monitor.auth import Auth
    from joblane.monitor.wsgi import create_wsgi_app

__all__ = ["Auth", "create_api", "create_wsgi_app"]

_WHERE = {
    "Auth": "joblane.monitor.auth",
    "create_api": "joblane.monitor.api",
    "create_wsgi_app": "joblane.monitor.wsgi",
}


def __getattr__(name: str) -> Any:
    # Imported on first use: views.py and schemas.py (the shapes, shared with
    # the Plone services) need no web framework; the API needs the extra.
    if name not in _WHERE:
        raise AttributeError(f"module 'joblane.monitor' has no attribute {name!r}")
    try:
        import starlette  # noqa: F401
    except ModuleNotFoundError as missing:  # pragma: no cover - depends on the install
        raise ModuleNotFoundError(
            "the monitoring API needs the 'monitor' extra: pip install 'joblane[monitor]'",
            name=missing.name,
        ) from missing
    from importlib import import_module

    return getattr(import_module(_WHERE[name]), name)
