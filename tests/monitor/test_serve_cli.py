"""``joblane serve``: options, credentials, and its errors (uvicorn itself is stubbed)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.testclient import TestClient
from starlette.types import ASGIApp

from joblane.cli import main
from joblane.cli.common import cli
from joblane.cli.serve import serve, site_url
from tests.cli.conftest import clean_environ, free_port, run_joblane


class Served:
    """What uvicorn.run was given; *probe* requests the app while it runs."""

    def __init__(self) -> None:
        self.runs: list[dict[str, Any]] = []
        self.probe: Callable[[TestClient], None] = lambda client: None

    def run(self, app: ASGIApp, **options: Any) -> None:
        self.runs.append(options)
        self.probe(TestClient(app))


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Served:
    """Register ``serve`` (as cli/__init__ will) and stand in for uvicorn.run."""
    monkeypatch.setitem(cli.commands, "serve", serve)
    for name in ("TOKENS", "USERS", "PREFIX", "QUEUES"):
        name = f"JOBLANE_API_{name}"
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JOBLANE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    served = Served()
    monkeypatch.setattr(uvicorn, "run", served.run)
    return served


def test_serves_with_a_token_from_the_environment(
    served: Served,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("JOBLANE_API_TOKENS", "env-token")

    def probe(client: TestClient) -> None:
        assert client.get("/Plone/@rq-queues").status_code == 401
        response = client.get("/Plone/@rq-queues", headers={"Authorization": "Bearer env-token"})
        assert [q["name"] for q in response.json()["items"]] == ["important", "low", "normal"]

    served.probe = probe
    assert main(["serve", "--host", "0.0.0.0", "--port", "9999", "--prefix", "/Plone/"]) == 0
    (run,) = served.runs
    assert (run["host"], run["port"], run["server_header"]) == ("0.0.0.0", 9999, False)
    out = capsys.readouterr().out
    assert "  queues:  http://127.0.0.1:9999/Plone/@rq-queues\n" in out
    assert "  authentication: Bearer\n" in out
    assert "env-token" not in out  # configured secrets are never printed


def test_serves_users_tokens_and_queues_from_options(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    def probe(client: TestClient) -> None:
        response = client.get("/@rq-queues", auth=("admin", "pass:word"))
        assert [q["name"] for q in response.json()["items"]] == ["mail", "normal"]
        assert client.get("/@rq-queues", headers={"Authorization": "Bearer t1"}).status_code == 200

    served.probe = probe
    argv = ["serve", "--user", "admin:pass:word", "--token", "t1", "--queues", "mail,normal"]
    assert main(argv) == 0
    assert len(served.runs) == 1
    assert "authentication: Bearer and Basic" in capsys.readouterr().out


def test_no_auth_must_be_explicit(served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve"]) == 2
    assert capsys.readouterr().err == (
        "Error: no credentials: pass --token or --user, set JOBLANE_API_TOKENS or "
        "JOBLANE_API_USERS, use --generate-credentials, or --no-auth "
        "(see 'joblane serve --help')\n"
    )
    assert served.runs == []
    served.probe = lambda client: assert_status(client.get("/@rq-queues"), 200)
    assert main(["serve", "--no-auth"]) == 0
    assert "authentication: DISABLED (--no-auth)" in capsys.readouterr().out
    assert len(served.runs) == 1
    assert main(["serve", "--no-auth", "--token", "t"]) == 2
    assert "--no-auth cannot be combined with credentials" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"JOBLANE_API_TOKENS": "abc"}, "JOBLANE_API_TOKENS is set"),
        ({"JOBLANE_API_USERS": "ops:pw"}, "JOBLANE_API_USERS is set"),
        ({"JOBLANE_API_USERS": "not-a-pair"}, "JOBLANE_API_USERS is set"),
        (
            {"JOBLANE_API_TOKENS": "abc", "JOBLANE_API_USERS": "ops:pw"},
            "JOBLANE_API_TOKENS and JOBLANE_API_USERS are set",
        ),
    ],
)
def test_no_auth_with_credentials_in_the_environment_is_refused(
    served: Served,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    named: str,
) -> None:
    """The same as ``--no-auth --token t``: one of the two is a mistake."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["serve", "--no-auth"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"Error: --no-auth cannot be combined with credentials ({named})")
    assert err.count("\n") == 1
    assert "abc" not in err and "ops:pw" not in err
    assert served.runs == []


def test_no_auth_with_credentials_in_the_environment_exits_2(tmp_path: Path) -> None:
    """As a real process: the command a service manager would run."""
    env = clean_environ(JOBLANE_API_TOKENS="abc", JOBLANE_URL=f"sqlite:///{tmp_path / 'x.db'}")
    done = run_joblane("serve", "--no-auth", "--port", str(free_port()), env=env, timeout=20)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith("Error: --no-auth cannot be combined with credentials")
    assert done.stderr.count("\n") == 1


def test_no_auth_with_blank_credential_variables_starts(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOBLANE_API_TOKENS", " , ")
    monkeypatch.setenv("JOBLANE_API_USERS", "")
    assert main(["serve", "--no-auth"]) == 0
    assert len(served.runs) == 1


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["--user", "admin"], 1, "Error: --user: expected user:password"),
        (["--token", "a b"], 1, "Error: a Bearer token must be made of"),
        (["--token", "t", "--prefix", "Plone"], 1, "Error: invalid API prefix 'Plone'"),
        (["--token", "t", "--queues", "../etc"], 2, "Error: invalid queue name '../etc'"),
    ],
)
def test_bad_options_are_one_line_errors(
    served: Served,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    code: int,
    message: str,
) -> None:
    assert main(["serve", *argv]) == code
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
    assert served.runs == []


def test_without_the_monitor_extra(
    served: Served,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    assert main(["serve", "--token", "t"]) == 1
    assert capsys.readouterr().err == (
        "Error: joblane serve needs the 'monitor' extra (uvicorn is not installed): "
        "pip install 'joblane[monitor]'\n"
    )


def assert_status(response: Any, status: int) -> None:
    assert response.status_code == status


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "http://127.0.0.1:8080/Plone"),
        ("0.0.0.0", "http://127.0.0.1:8080/Plone"),
        ("::", "http://[::1]:8080/Plone"),
        ("::1", "http://[::1]:8080/Plone"),
        ("example.org", "http://example.org:8080/Plone"),
    ],
)
def test_site_url(host: str, expected: str) -> None:
    assert site_url(host, 8080, "/Plone") == expected
