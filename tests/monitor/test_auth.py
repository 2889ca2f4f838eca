"""Authentication (Bearer and Basic), the methods allowed, and the auth configuration."""

from __future__ import annotations

import base64
import hmac

import pytest

from joblane.errors import ConfigurationError
from joblane.monitor import Auth, create_api
from tests.monitor.conftest import PREFIX, TOKEN, USER, CheckedClient, Filled

BOTH_CHALLENGES = ['Bearer realm="joblane"', 'Basic realm="joblane", charset="UTF-8"']
MISSING = {
    "error": {
        "type": "Unauthorized",
        "message": "authentication required: send Authorization: Bearer <token> or HTTP "
        "Basic credentials",
    }
}
INVALID = {"error": {"type": "Unauthorized", "message": "invalid credentials"}}


def not_allowed(method: str) -> dict[str, object]:
    message = f"method {method} is not allowed: this API is read-only"
    return {"error": {"type": "MethodNotAllowed", "message": message}}


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_no_credentials_is_401_with_a_challenge_per_scheme(anonymous: CheckedClient) -> None:
    for path in ("/Plone/@rq-queues", "/Plone/@rq-queues/normal", "/Plone/@rq-job/normal/x",
                 "/Plone/@rq-queues/normal/failed_job_registry", "/Plone/unknown"):  # fmt: skip
        response = anonymous.get(path)
        assert response.status_code == 401, path
        assert response.json() == MISSING
        assert response.headers.get_list("www-authenticate") == BOTH_CHALLENGES


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer wrong-token",
        f"Bearer {TOKEN}x",
        f"bearer {TOKEN[:-1]}",
        basic("admin", "wrong"),
        basic("nobody", "password"),
        basic("admin", ""),
        "Basic not-base64!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:\x00").decode(),
        f"Digest {TOKEN}",
        TOKEN,
        "Bearer",
        "Bearer   ",
    ],
)
def test_wrong_credentials_are_401(anonymous: CheckedClient, authorization: str) -> None:
    response = anonymous.get("/Plone/@rq-queues", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.json() == INVALID
    assert response.headers.get_list("www-authenticate") == BOTH_CHALLENGES


def test_an_empty_authorization_header_counts_as_none(anonymous: CheckedClient) -> None:
    response = anonymous.get("/Plone/@rq-queues", headers={"Authorization": "  "})
    assert (response.status_code, response.json()) == (401, MISSING)


def test_a_token_a_basic_user_and_their_schemes_case_insensitively(
    anonymous: CheckedClient,
) -> None:
    for authorization in (f"Bearer {TOKEN}", f"bearer {TOKEN}", f"BEARER  {TOKEN} ",
                          basic(*USER), basic(*USER).replace("Basic", "basic")):  # fmt: skip
        response = anonymous.get("/Plone/@rq-queues", headers={"Authorization": authorization})
        assert response.status_code == 200, authorization
    assert anonymous.get("/Plone/@rq-queues", auth=USER).status_code == 200


def test_only_the_configured_schemes_are_offered(filled: Filled) -> None:
    for auth, challenges in ((Auth(tokens=[TOKEN]), BOTH_CHALLENGES[:1]),
                             (Auth(users=[USER]), BOTH_CHALLENGES[1:])):  # fmt: skip
        app = create_api(filled.backend, prefix=PREFIX, auth=auth)
        response = CheckedClient(app).get("/Plone/@rq-queues")
        assert response.status_code == 401
        assert response.headers.get_list("www-authenticate") == challenges
    # A token is no password, and a password no token.
    app = create_api(filled.backend, prefix=PREFIX, auth=Auth(tokens=["secret"]))
    assert CheckedClient(app).get("/Plone/@rq-queues", auth=("x", "secret")).status_code == 401


def test_the_openapi_document_and_options_need_no_credentials(anonymous: CheckedClient) -> None:
    assert anonymous.get("/Plone/@rq-openapi.json").status_code == 200
    response = anonymous.options("/Plone/@rq-queues")
    assert response.status_code == 204
    assert response.headers["allow"] == "GET, HEAD, OPTIONS"
    assert response.content == b""


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "TRACE", "CONNECT"])
def test_other_methods_are_405_with_or_without_credentials(
    anonymous: CheckedClient, method: str
) -> None:
    for headers in ({}, {"Authorization": f"Bearer {TOKEN}"}):
        for path in ("/Plone/@rq-queues", "/Plone/@rq-job/normal/job-finished",
                     "/Plone/@rq-openapi.json"):  # fmt: skip
            response = anonymous.request(method, path, headers=headers)
            assert response.status_code == 405
            assert response.json() == not_allowed(method)
            assert response.headers["allow"] == "GET, HEAD, OPTIONS"
    # Nothing changed: the API is read-only.
    authorized = {"Authorization": f"Bearer {TOKEN}"}
    assert anonymous.get("/Plone/@rq-job/normal/job-finished", headers=authorized).json()["id"]


def test_disabled_auth_lets_every_request_in(filled: Filled) -> None:
    app = create_api(filled.backend, prefix=PREFIX, auth=Auth.disabled())
    assert CheckedClient(app).get("/Plone/@rq-queues").status_code == 200


def test_no_credentials_and_no_explicit_opt_out_refuses_to_start(filled: Filled) -> None:
    with pytest.raises(ConfigurationError, match="needs credentials"):
        create_api(filled.backend, auth=Auth())
    with pytest.raises(ConfigurationError, match="needs credentials"):
        create_api(filled.backend, auth=Auth.from_env({}))
    with pytest.raises(ConfigurationError, match="disabled but credentials"):
        Auth(tokens=[TOKEN], enabled=False)


def test_credentials_from_the_environment(filled: Filled) -> None:
    env = {
        "JOBLANE_API_TOKENS": " tok-1 , tok-2,,",
        "JOBLANE_API_USERS": "admin:pa:ss:word, ops:x",
    }
    auth = Auth.from_env(env, tokens=["tok-3"], users=[("bob", "pw")])
    assert auth.schemes == ("Bearer", "Basic")
    client = CheckedClient(create_api(filled.backend, prefix=PREFIX, auth=auth))
    for headers in ({"Authorization": "Bearer tok-1"}, {"Authorization": "Bearer tok-2"},
                    {"Authorization": "Bearer tok-3"}):  # fmt: skip
        assert client.get("/Plone/@rq-queues", headers=headers).status_code == 200
    for pair in (("admin", "pa:ss:word"), ("ops", "x"), ("bob", "pw")):
        assert client.get("/Plone/@rq-queues", auth=pair).status_code == 200
    assert client.get("/Plone/@rq-queues", auth=("admin", "pa")).status_code == 401


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"JOBLANE_API_USERS": "admin"}, "JOBLANE_API_USERS: expected user:password"),
        ({"JOBLANE_API_USERS": "admin:"}, "JOBLANE_API_USERS: expected user:password"),
        ({"JOBLANE_API_USERS": ":s3cret-value"}, "JOBLANE_API_USERS: expected user:password"),
        ({"JOBLANE_API_TOKENS": "has space"}, "a Bearer token must be made of"),
        ({"JOBLANE_API_TOKENS": "t\u00f6ken"}, "a Bearer token must be made of"),
    ],
)
def test_bad_credentials_configuration_is_refused_without_echoing_secrets(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message) as raised:
        Auth.from_env(env)
    assert "s3cret" not in str(raised.value) and "space" not in str(raised.value)


def test_auth_keeps_no_secret_in_its_repr() -> None:
    auth = Auth(tokens=["top-secret-token"], users=[("admin", "hunter2")])
    assert repr(auth) == "<Auth Bearer+Basic>"
    assert repr(Auth.disabled()) == "Auth.disabled()"
    assert not any(isinstance(v, str) for v in vars_of(auth))


def vars_of(auth: Auth) -> list[object]:
    return [getattr(auth, name) for name in type(auth).__slots__]


def test_every_configured_secret_is_compared_whatever_matches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append(1)
        return bool(real(a, b))

    monkeypatch.setattr(hmac, "compare_digest", spy)
    auth = Auth(tokens=["t-1", "t-2", "t-3"], users=[("a", "1"), ("b", "2")])
    for header, expected in (("Bearer t-1", 3), ("Bearer t-3", 3), ("Bearer nope", 3),
                             (basic("a", "1"), 2), (basic("b", "x"), 2)):  # fmt: skip
        calls.clear()
        auth.check(header)
        assert len(calls) == expected, header
