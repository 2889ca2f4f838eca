"""Check an HTTP response of the monitoring API against its OpenAPI document.

The response's path (less the API's prefix) is matched to a path template of
the document; its status must be documented for the method (a method the
document lacks must answer a documented 405); a documented JSON body must be
JSON and valid against its schema, and an undocumented body must be empty.
A path that matches no template must answer a 4xx error body.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import httpx2
import orjson
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from joblane.monitor.api import load_openapi

JSON = "application/json"


@cache
def document() -> dict[str, Any]:
    return load_openapi()


def deref(node: Any, doc: dict[str, Any]) -> Any:
    """*node* with every ``$ref`` into *doc* replaced by its target."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            target: Any = doc
            for part in ref.removeprefix("#/").split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            return deref(target, doc)
        return {key: deref(value, doc) for key, value in node.items()}
    if isinstance(node, list):
        return [deref(item, doc) for item in node]
    return node


def schema(name: str) -> dict[str, Any]:
    """A component schema, with its references resolved."""
    resolved: dict[str, Any] = deref(document()["components"]["schemas"][name], document())
    return resolved


def validate(instance: Any, against: dict[str, Any]) -> None:
    Draft202012Validator.check_schema(against)
    errors = sorted(Draft202012Validator(against).iter_errors(instance), key=str)
    assert not errors, f"{errors[0].message} at {list(errors[0].absolute_path)}"


def _template(path: str) -> str | None:
    for template in document()["paths"]:
        pattern = re.escape(template).replace(r"\{", "{").replace(r"\}", "}")
        pattern = re.sub(r"\{[a-z_]+\}", "[^/]+", pattern)
        if re.fullmatch(pattern, path):
            return str(template)
    return None


def _operation(template: str, method: str) -> dict[str, Any]:
    item = document()["paths"][template]
    if method == "HEAD":
        method = "GET"
    operation = item.get(method.lower())
    if operation is None:  # an undocumented method: the GET's documented 405
        operation = item["get"]
    return dict(operation)


def check_response(response: httpx2.Response, prefix: str) -> None:
    """Assert *response* is one the OpenAPI document describes."""
    method = response.request.method
    path = response.request.url.path
    inner = path[len(prefix) :] if path.startswith(prefix) else None
    template = _template(inner) if inner is not None else None
    if template is None:
        assert 400 <= response.status_code < 500, (path, response.status_code)
        _check_body(response, {"content": {JSON: {"schema": schema("Error")}}}, method)
        return
    operation = _operation(template, method)
    if method not in ("GET", "HEAD") and method.lower() not in document()["paths"][template]:
        assert response.status_code == 405, (method, path, response.status_code)
    responses = operation["responses"]
    status = str(response.status_code)
    assert status in responses, f"{method} {path}: status {status} is not documented"
    _check_body(response, deref(responses[status], document()), method)


def _check_body(response: httpx2.Response, documented: dict[str, Any], method: str) -> None:
    content = documented.get("content")
    if method == "HEAD" or content is None:
        assert response.content == b"", "an undocumented body"
        return
    assert response.headers["content-type"] == JSON
    validate(orjson.loads(response.content), content[JSON]["schema"])
