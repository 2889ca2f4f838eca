"""HTTP tasks in the real Plone site: Plone code queues ``joblane.http.add``
in a request (stored when its Zope transaction commits), a real ``joblane
worker`` process sends it to the site over a real WSGI server, and the PAS
plugin the profile installed authenticates it as the queuing user; the view
is registered for ITaskLayer, so only verified task requests find it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import transaction

from joblane.client import Job
from joblane.config import shared_backend
from joblane.contrib.plone.tasks import PLUGIN_ID
from joblane.http.signing import sign
from tests.plone.conftest import layered
from tests.plone.instance import ROOT
from tests.plone.test_transaction import SERVER

SECRET = "plone-task-secret-0123456789"


@pytest.fixture
def site(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, Any]]:
    url = f"sqlite:///{tmp_path}/jobs.db"
    for layer in layered(SERVER):
        base = f"http://{layer['host']}:{layer['port']}"
        env = {"JOBLANE_URL": url, "JOBLANE_HTTP_SECRET": SECRET, "JOBLANE_HTTP_BASE_URL": base}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        users = layer["portal"].acl_users
        users.userFolderAddUser("taskeditor", "password", ["Member", "Editor"], [])
        users.userFolderAddUser("othereditor", "password", ["Member", "Editor"], [])
        transaction.commit()
        yield {"base": base, "url": f"{base}/plone", "backend": shared_backend(url),
               "env": env, "layer": layer}  # fmt: skip


def run_worker(site: dict[str, Any]) -> None:
    """A real ``joblane worker`` process, in burst mode, to its end."""
    run = subprocess.run(
        [sys.executable, "-m", "joblane", "--url", site["env"]["JOBLANE_URL"], "worker",
         "--burst", "--import", "joblane.http"],
        capture_output=True, text=True, timeout=240, cwd=ROOT, env={**os.environ, **site["env"]},
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]


def test_the_profile_installs_the_plugin(site: dict[str, Any]) -> None:
    from Products.PluggableAuthService.interfaces.plugins import (
        IAuthenticationPlugin,
        IChallengePlugin,
        IExtractionPlugin,
    )

    pas = site["layer"]["portal"].acl_users
    assert PLUGIN_ID in pas.objectIds()
    for kind in (IExtractionPlugin, IAuthenticationPlugin, IChallengePlugin):
        assert pas.plugins.listPluginIds(kind)[0] == PLUGIN_ID


def test_a_task_queued_in_a_request_runs_its_view_as_the_queuing_user(
    site: dict[str, Any],
) -> None:
    from tests.plone.views import tasks_seen

    answer = requests.get(f"{site['url']}/@@joblane-test-add-task", params={"key": "a"},
                          auth=("taskeditor", "password"))  # fmt: skip
    assert answer.status_code == 200, answer.text
    task_id = answer.text
    [record] = site["backend"].list_queued("normal", 0, 100)
    assert record.id == task_id and record.enqueued_by.user_id == "taskeditor"

    run_worker(site)
    job = Job(site["backend"].get(task_id), site["backend"]).refresh()
    assert job.status == "finished", job.last_job_result
    assert job.return_value["status"] == 200 and job.return_value["body"] == "ran a"
    seen = tasks_seen["a"]
    assert seen["user"] == "taskeditor" and seen["layer"] is True
    headers: Any = seen["headers"]
    assert headers["X-Task-Id"] == task_id and headers["X-Task-User-Id"] == "taskeditor"

    # The same request again, byte for byte: a replay, refused with 401.
    del tasks_seen["a"]
    again = requests.get(f"{site['url']}/@@joblane-test-task", params={"key": "a"},
                         headers=headers, allow_redirects=False)  # fmt: skip
    assert again.status_code == 401 and "seen before" in again.headers["X-Task-Refused"]
    # The signature does not carry another user.
    forged = dict(headers, **{"X-Task-User-Id": "admin"})
    refused = requests.get(f"{site['url']}/@@joblane-test-task", params={"key": "a"},
                           headers=forged, allow_redirects=False)  # fmt: skip
    assert refused.status_code == 401
    assert "does not match" in refused.headers["X-Task-Refused"]
    assert "a" not in tasks_seen


def test_a_task_queued_in_a_failed_request_is_not_stored(site: dict[str, Any]) -> None:
    params = {"key": "b", "mode": "fail"}
    answer = requests.get(f"{site['url']}/@@joblane-test-add-task", params=params,
                          auth=("taskeditor", "password"))  # fmt: skip
    assert answer.status_code == 500
    assert site["backend"].list_queued("normal", 0, 100) == []


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Task-Id": "x1", "X-Task-User-Id": "taskeditor"},
        {"X-Task-User-Id": "taskeditor"},
        {"X-Task-Id": "x1", "X-Task-User-Id": "taskeditor",
         "X-Task-Signature": "t=1,n=" + "a" * 32 + ",v1=" + "0" * 64},
    ],
)  # fmt: skip
def test_a_forged_task_request_is_refused_and_not_authenticated(
    site: dict[str, Any], headers: dict[str, str]
) -> None:
    from tests.plone.views import tasks_seen

    tasks_seen.pop("f", None)
    for auth in (None, ("taskeditor", "password")):  # even with the user's own credentials
        answer = requests.get(f"{site['url']}/@@joblane-test-task", params={"key": "f"},
                              headers=headers, auth=auth, allow_redirects=False)  # fmt: skip
        assert answer.status_code == 401, answer.text
        assert answer.headers["X-Task-Refused"]
        # A page any authenticated user may see: still 401, never as that user.
        page = requests.get(f"{site['url']}/@@joblane-test-add-task", params={"key": "g"},
                            headers=headers, auth=auth, allow_redirects=False)  # fmt: skip
        assert page.status_code == 401
    assert "f" not in tasks_seen
    assert site["backend"].list_queued("normal", 0, 100) == []


def test_a_signed_request_is_authenticated_as_its_user(site: dict[str, Any]) -> None:
    from tests.plone.views import tasks_seen

    path, query = "/plone/@@joblane-test-task", "key=s"
    signed = sign(SECRET, "t-1", "taskeditor", "GET", f"{path}?{query}", b"", int(time.time()),
                  "1" * 32)  # fmt: skip
    # Another user's credentials in the same request: the task's user comes first.
    answer = requests.get(f"{site['base']}{path}?{query}", headers=signed,
                          auth=("othereditor", "password"))  # fmt: skip
    assert answer.status_code == 200, answer.headers.get("X-Task-Refused")
    assert tasks_seen["s"]["user"] == "taskeditor"
    # Signed for a user the site does not know: not authenticated, so not allowed.
    unknown = sign(SECRET, "t-2", "nobody", "GET", f"{path}?{query}", b"", int(time.time()),
                   "2" * 32)  # fmt: skip
    refused = requests.get(f"{site['base']}{path}?{query}", headers=unknown,
                           allow_redirects=False)  # fmt: skip
    assert refused.status_code == 302, refused.text  # Plone's own challenge: the login form
    assert "X-Task-Refused" not in refused.headers
    assert tasks_seen["s"]["user"] == "taskeditor"


def test_the_task_view_is_not_found_by_a_browser_request(site: dict[str, Any]) -> None:
    answer = requests.get(f"{site['url']}/@@joblane-test-task", params={"key": "n"},
                          auth=("taskeditor", "password"), allow_redirects=False)  # fmt: skip
    assert answer.status_code == 404


def test_uninstall_removes_the_plugin(site: dict[str, Any]) -> None:
    from plone.app.testing import applyProfile
    from Products.PluggableAuthService.interfaces.plugins import IChallengePlugin

    portal = site["layer"]["portal"]
    applyProfile(portal, "joblane.contrib.plone:uninstall")
    assert PLUGIN_ID not in portal.acl_users.objectIds()
    applyProfile(portal, "joblane.contrib.plone:default")
    assert portal.acl_users.plugins.listPluginIds(IChallengePlugin)[0] == PLUGIN_ID


def test_the_upgrade_step_adds_the_plugin_to_an_older_site(site: dict[str, Any]) -> None:
    from joblane.contrib.plone.setuphandlers import upgrade_1001
    from joblane.contrib.plone.tasks import uninstall_plugin

    portal = site["layer"]["portal"]
    uninstall_plugin(portal)  # as a site installed at version 1000
    upgrade_1001(portal.portal_setup)
    assert PLUGIN_ID in portal.acl_users.objectIds()


@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
def test_a_signed_post_is_verified_over_its_body(site: dict[str, Any], content_type: str) -> None:
    from tests.plone.views import tasks_seen

    path, query, body = "/plone/@@joblane-test-task", "key=p", b'{"x": 1}'
    if content_type != "application/json":
        query, body = "", b"key=p&x=1"
    tasks_seen.pop("p", None)
    nonce = "3" if query else "5"  # each case its own requests (the site remembers nonces)
    signed = sign(SECRET, "t-p", "taskeditor", "POST", f"{path}?{query}" if query else path,
                  body, int(time.time()), nonce * 32)  # fmt: skip
    url = f"{site['base']}{path}" + (f"?{query}" if query else "")
    answer = requests.post(url, data=body, headers={**signed, "Content-Type": content_type})
    assert answer.status_code == 200, answer.headers.get("X-Task-Refused")
    assert tasks_seen["p"]["user"] == "taskeditor"
    # Another body under the same signature: refused.
    signed = sign(SECRET, "t-q", "taskeditor", "POST", f"{path}?{query}" if query else path,
                  body, int(time.time()), str(int(nonce) + 1) * 32)  # fmt: skip
    other = requests.post(url, data=body + b"0", headers={**signed, "Content-Type": content_type})
    assert other.status_code == 401
    assert "does not match" in other.headers["X-Task-Refused"]
