"""The API inside a host app (ASGI mount, WSGI form), its prefix, queues and OpenAPI document."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import httpx2
import pytest
from a2wsgi import ASGIMiddleware
from openapi_spec_validator import validate as validate_spec
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from joblane.backends.base import Backend
from joblane.core.states import Registry
from joblane.errors import ConfigurationError, InvalidQueueNameError
from joblane.monitor import create_api, create_wsgi_app
from joblane.monitor.api import create_api_from_env, load_openapi, normalize_prefix
from tests.monitor.conftest import PREFIX, TOKEN, CheckedClient, Filled, make_auth
from tests.monitor.openapi_check import check_response

AUTHORIZED = {"Authorization": f"Bearer {TOKEN}"}


def host_app(monitor: Starlette) -> Starlette:
    """An existing ASGI app (FastAPI's ``app.mount`` is this Mount) with the API at /monitor."""

    def home(request: Any) -> PlainTextResponse:
        return PlainTextResponse("the host's own page")

    return Starlette(routes=[Route("/", home), Mount("/monitor", app=monitor)])


def test_mounted_in_an_asgi_app(filled: Filled) -> None:
    app = host_app(create_api(filled.backend, auth=make_auth()))
    client = CheckedClient(app, prefix="/monitor", headers=AUTHORIZED)
    body = client.get("/monitor/@rq-queues").json()
    assert [q["name"] for q in body["items"]] == ["custom", "important", "low", "normal"]
    assert body["items"][0]["@id"] == "@rq-queues/custom"
    assert client.get("/monitor/@rq-job/normal/job-finished").json()["return_value"] == 3
    assert client.get("/monitor/@rq-queues/nightly").status_code == 404
    assert TestClient(app).get("/").text == "the host's own page"  # not the API's
    assert client.get("/monitor/@rq-openapi.json").json()["servers"] == [{"url": "/monitor"}]
    assert client.post("/monitor/@rq-queues").status_code == 405
    assert client.get("/monitor/@rq-queues", headers={"Authorization": ""}).status_code == 401


def test_mounted_with_a_prefix_of_its_own(filled: Filled) -> None:
    app = host_app(create_api(filled.backend, prefix="/Plone", auth=make_auth()))
    client = CheckedClient(app, prefix="/monitor/Plone", headers=AUTHORIZED)
    assert client.get("/monitor/Plone/@rq-queues/low").json()["@id"] == "@rq-queues/low"
    assert client.get("/monitor/Plone/@rq-openapi.json").json()["servers"] == [
        {"url": "/monitor/Plone"}
    ]


def wsgi_client(app: ASGIMiddleware, prefix: str, script_name: str = "") -> httpx2.Client:
    """A client of *app* through a real WSGI call, mounted at *script_name* (the
    ``SCRIPT_NAME`` a WSGI host such as Werkzeug's DispatcherMiddleware sets; request
    paths leave it out); every response is checked against the OpenAPI document."""
    wsgi: Any = app  # a2wsgi and httpx2 spell the WSGI types differently
    transport = httpx2.WSGITransport(app=wsgi, script_name=script_name)

    def check(response: httpx2.Response) -> None:
        response.read()
        check_response(response, prefix)

    return httpx2.Client(
        transport=transport, base_url="http://wsgi.test", event_hooks={"response": [check]}
    )


def test_the_wsgi_form(filled: Filled) -> None:
    app = create_wsgi_app(filled.backend, prefix="/Plone", auth=make_auth())
    with wsgi_client(app, "/Plone") as client:
        response = client.get("/Plone/@rq-queues/normal/finished_job_registry", headers=AUTHORIZED)
        assert response.status_code == 200
        assert response.json()["items"][0]["id"] == "job-finished"
        assert client.get("/Plone/@rq-queues", auth=("admin", "password")).status_code == 200
        assert client.get("/Plone/@rq-job/normal/nope", headers=AUTHORIZED).json() == {}
        response = client.get("/Plone/@rq-queues")
        assert response.status_code == 401
        assert response.headers.get_list("www-authenticate") == [
            'Bearer realm="joblane"',
            'Basic realm="joblane", charset="UTF-8"',
        ]
        assert client.delete("/Plone/@rq-queues").status_code == 405


def test_the_wsgi_form_mounted_in_a_wsgi_host(filled: Filled) -> None:
    app = create_wsgi_app(filled.backend, auth=make_auth())
    with wsgi_client(app, "", script_name="/monitor") as client:
        response = client.get("/@rq-queues/low", headers=AUTHORIZED)
        assert response.status_code == 200
        assert response.json()["@id"] == "@rq-queues/low"
        servers = client.get("/@rq-openapi.json").json()["servers"]
        assert servers == [{"url": "/monitor"}]


def test_the_wsgi_form_refuses_encoded_slashes_a_wsgi_server_reports(filled: Filled) -> None:
    app = create_wsgi_app(filled.backend, prefix="/Plone", auth=make_auth())
    environ: Any = {
        "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "QUERY_STRING": "",
        "PATH_INFO": "/Plone/@rq-queues/normal/failed_job_registry",
        "RAW_URI": "/Plone/@rq-queues/normal%2Ffailed_job_registry",
        "SERVER_NAME": "wsgi.test", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_AUTHORIZATION": f"Bearer {TOKEN}", "wsgi.url_scheme": "http",
        "wsgi.input": None, "wsgi.errors": None,
    }  # fmt: skip
    statuses: list[str] = []
    wsgi: Any = app
    body = b"".join(wsgi(environ, lambda status, headers, exc_info=None: statuses.append(status)))
    assert statuses == ["400 Bad Request"]
    assert json.loads(body) == {
        "error": {"type": "BadRequest", "message": "encoded slashes are not allowed in the path"}
    }


@pytest.mark.parametrize(
    ("given", "normalized"), [("", ""), ("/", ""), ("/Plone", "/Plone"), ("/Plone/", "/Plone"),
                              ("/site/sub-site", "/site/sub-site"), ("/@@api", "/@@api")],
)  # fmt: skip
def test_prefix(given: str, normalized: str) -> None:
    assert normalize_prefix(given) == normalized


@pytest.mark.parametrize("prefix", ["Plone", "/a/../b", "/./a", "/a b", "/a//b", "/caf\u00e9"])
def test_a_bad_prefix_is_refused(filled: Filled, prefix: str) -> None:
    with pytest.raises(ConfigurationError, match="invalid API prefix"):
        create_api(filled.backend, prefix=prefix, auth=make_auth())


def test_served_at_the_root(filled: Filled) -> None:
    app = create_api(filled.backend, auth=make_auth())
    client = CheckedClient(app, prefix="", headers=AUTHORIZED)
    assert client.get("/@rq-queues/normal").json()["count"] == 1
    assert client.get("/Plone/@rq-queues").status_code == 404


def test_configured_queues(filled: Filled) -> None:
    app = create_api(filled.backend, prefix=PREFIX, queues=["zeta", "alpha"], auth=make_auth())
    client = CheckedClient(app, headers=AUTHORIZED)
    names = [q["name"] for q in client.get("/Plone/@rq-queues").json()["items"]]
    assert names == ["alpha", "custom", "important", "normal", "zeta"]  # low holds no job
    assert client.get("/Plone/@rq-queues/low").status_code == 404
    assert client.get("/Plone/@rq-queues/zeta").json()["count"] == 0
    with pytest.raises(InvalidQueueNameError):
        create_api(filled.backend, queues=["../x"], auth=make_auth())


def test_the_openapi_document_is_valid_and_describes_every_route(filled: Filled) -> None:
    doc = load_openapi()
    validate_spec(doc)
    app = create_api(filled.backend, prefix=PREFIX, auth=make_auth())
    routes = {route.path.removeprefix(PREFIX) for route in app.routes if isinstance(route, Route)}
    assert routes == set(doc["paths"])
    served = CheckedClient(app).get("/Plone/@rq-openapi.json").json()
    assert served == {**doc, "servers": [{"url": "/Plone"}]}
    assert doc["components"]["schemas"]["RegistryName"]["enum"] == [r.value for r in Registry]


def test_the_openapi_check_rejects_what_the_document_does_not_say() -> None:
    request = httpx2.Request("GET", "http://t/Plone/@rq-queues")
    undocumented = httpx2.Response(
        418, json={"error": {"type": "x", "message": "y"}}, request=request
    )
    with pytest.raises(AssertionError, match="418 is not documented"):
        check_response(undocumented, PREFIX)
    wrong_shape = httpx2.Response(200, json={"@id": "@rq-queues"}, request=request)
    with pytest.raises(AssertionError, match="'items' is a required property"):
        check_response(wrong_shape, PREFIX)


class ThreadRecordingReader:
    """Wraps a backend; records the thread each read runs in."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.threads: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        self.threads.add(threading.current_thread().name)
        return getattr(self.backend, name)


def test_endpoints_run_in_the_threadpool_not_on_the_event_loop(filled: Filled) -> None:
    reader = ThreadRecordingReader(filled.backend)
    app = create_api(reader, prefix=PREFIX, auth=make_auth())
    with CheckedClient(app, headers=AUTHORIZED) as client:
        assert client.portal is not None
        loop_thread = client.portal.call(lambda: threading.current_thread().name)
        assert client.get("/Plone/@rq-queues").status_code == 200
    assert reader.threads and loop_thread not in reader.threads


def test_the_api_from_the_environment(tmp_path: Path) -> None:
    env = {
        "JOBLANE_URL": f"sqlite:///{tmp_path / 'env.db'}",
        "JOBLANE_API_PREFIX": "/site",
        "JOBLANE_API_QUEUES": "mail,normal",
        "JOBLANE_API_TOKENS": "env-token",
    }
    client = CheckedClient(create_api_from_env(env), prefix="/site")
    response = client.get("/site/@rq-queues", headers={"Authorization": "Bearer env-token"})
    assert [q["name"] for q in response.json()["items"]] == ["mail", "normal"]
    with pytest.raises(ConfigurationError, match="needs credentials"):
        create_api_from_env({**env, "JOBLANE_API_TOKENS": ""})
