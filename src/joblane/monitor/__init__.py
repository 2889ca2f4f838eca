"""The read-only monitoring REST API (seed 000's ``@rq-queues`` and ``@rq-job``).

::

    from joblane.monitor import Auth, create_api

    api = create_api(backend, prefix="/Plone", auth=Auth.from_env())

Needs the ``monitor`` extra (``pip install 'joblane[monitor]'``): Starlette,
uvicorn and a2wsgi. Modules: ``api`` (routes and endpoints), ``schemas`` (the
JSON shapes), ``auth`` (Bearer and Basic credentials), ``guard`` (the checks
before an endpoint), ``responses`` (JSON and the error shape), ``wsgi`` (the
WSGI form), ``openapi.json`` (the API's description).
"""

from __future__ import annotations

try:
    import starlette  # noqa: F401
except ModuleNotFoundError as missing:  # pragma: no cover - depends on the install
    raise ModuleNotFoundError(
        "the monitoring API needs the 'monitor' extra: pip install 'joblane[monitor]'",
        name=missing.name,
    ) from missing

from joblane.monitor.api import create_api
from joblane.monitor.auth import Auth
from joblane.monitor.wsgi import create_wsgi_app

__all__ = ["Auth", "create_api", "create_wsgi_app"]
