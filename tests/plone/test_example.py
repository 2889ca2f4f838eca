"""Seed 004's case, over a real WSGI server: a click enqueues the creation of
several items and gets the job id at once; the user sees their job queued
(@@joblane-my-jobs) and polls it (@rq-job, seed 000's client); a worker
thread of the test layer runs it in the site as that user."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import transaction
from plone.app.testing import (
    SITE_OWNER_NAME,
    FunctionalTesting,
    PloneSandboxLayer,
    applyProfile,
    login,
    logout,
)
from plone.testing import zope as zope_testing

from joblane.contrib.plone.testing import JOBLANE_FIXTURE, worker_thread
from tests.plone.conftest import layered
from tests.plone.seed000_client import wait_for_job


class ExampleLayer(PloneSandboxLayer):
    defaultBases = (JOBLANE_FIXTURE,)

    def setUpZope(self, app: Any, configurationContext: Any) -> None:
        import plone.app.contenttypes

        import joblane.contrib.plone.example

        self.loadZCML(package=plone.app.contenttypes)
        self.loadZCML(package=joblane.contrib.plone.example)

    def setUpPloneSite(self, portal: Any) -> None:
        applyProfile(portal, "plone.app.contenttypes:default")
        acl = portal.acl_users
        acl.userFolderAddUser("editor", "password", ["Member"], [])
        acl.userFolderAddUser("manager", "password", ["Manager"], [])
        login(portal.getPhysicalRoot(), SITE_OWNER_NAME)
        portal.invokeFactory("Folder", "inbox", title="Inbox")
        portal.inbox.manage_setLocalRoles("editor", ["Contributor"])
        logout()


EXAMPLE = ExampleLayer()
SERVER = FunctionalTesting(bases=(EXAMPLE, zope_testing.WSGI_SERVER_FIXTURE), name="Example:Server")


@pytest.fixture
def site(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    for layer in layered(SERVER):
        monkeypatch.setenv("JOBLANE_URL", f"sqlite:///{tmp_path}/jobs.db")
        yield layer


def test_items_are_created_in_the_background_as_the_clicking_user(site: Any) -> None:
    url = f"http://{site['host']}:{site['port']}/plone"
    click = requests.post(
        f"{url}/inbox/@@joblane-create-items",
        data={"count": "3", "title": "Report"},
        auth=("editor", "password"),
    )
    assert click.status_code == 200, click.text
    job_id = click.json()["job_id"]
    assert click.json()["status"] == f"@rq-job/normal/{job_id}"
    # The answer came at once: nothing ran yet, the job waits in the queue.
    polled = requests.get(f"{url}/@rq-job/normal/{job_id}", auth=("manager", "password"),
                          headers={"Accept": "application/json"}).json()  # fmt: skip
    assert polled["ended"] is None
    mine = requests.get(f"{url}/@@joblane-my-jobs", auth=("editor", "password")).json()
    assert mine["user"] == "editor"
    assert [j["id"] for j in mine["queued"]] == [job_id]
    assert mine["queued"][0]["enqueued_by"]["user_id"] == "editor"
    others = requests.get(f"{url}/@@joblane-my-jobs", auth=("manager", "password")).json()
    assert others["queued"] == []
    with worker_thread(site, queues=["normal"], concurrency=1):
        job = wait_for_job(url, "normal", job_id, ("manager", "password"))
    assert job["return_value"] == [f"/plone/inbox/report-{n}" for n in (1, 2, 3)], job[
        "last_job_result"
    ]
    transaction.begin()  # see the worker's commit
    inbox = site["portal"].inbox
    assert [inbox[i].Title() for i in inbox.objectIds()] == ["Report 1", "Report 2", "Report 3"]
    assert {inbox[i].listCreators() for i in inbox.objectIds()} == {("editor",)}


def test_a_bad_count_is_refused(site: Any) -> None:
    url = f"http://{site['host']}:{site['port']}/plone"
    click = requests.post(f"{url}/inbox/@@joblane-create-items", data={"count": "0"},
                          auth=("editor", "password"))  # fmt: skip
    assert click.status_code == 400
    assert "count must be an integer from 1 to 100" in click.json()["error"]
