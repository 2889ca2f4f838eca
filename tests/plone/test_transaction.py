"""Enqueues from Plone code join the Zope transaction: a request published
by ZPublisher over a real WSGI server stores its job when it commits, nothing
when it fails, and once when a ConflictError makes ZPublisher retry it; the
identity captured is the request's Plone user, with the site and user folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import transaction
from plone.app.testing import TEST_USER_ID, FunctionalTesting, IntegrationTesting, PloneSandboxLayer
from plone.testing import zope as zope_testing

from joblane.config import shared_backend
from joblane.contrib.plone.testing import JOBLANE_FIXTURE, run_pending_jobs
from tests.plone.conftest import layered


class ViewsLayer(PloneSandboxLayer):
    defaultBases = (JOBLANE_FIXTURE,)

    def setUpZope(self, app: Any, configurationContext: Any) -> None:
        import tests.plone

        self.loadZCML(name="views.zcml", package=tests.plone)


VIEWS = ViewsLayer()
SERVER = FunctionalTesting(bases=(VIEWS, zope_testing.WSGI_SERVER_FIXTURE), name="Views:Server")
INTEGRATION = IntegrationTesting(bases=(VIEWS,), name="Views:Integration")


@pytest.fixture
def site(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, Any]]:
    url = f"sqlite:///{tmp_path}/jobs.db"
    for layer in layered(SERVER):
        monkeypatch.setenv("JOBLANE_URL", url)
        layer["portal"].acl_users.userFolderAddUser("editor", "password", ["Member"], [])
        transaction.commit()
        yield {
            "url": f"http://{layer['host']}:{layer['port']}/plone",
            "backend": shared_backend(url),
        }


def get(site: dict[str, Any], mode: str, key: str) -> requests.Response:
    return requests.get(f"{site['url']}/@@joblane-test-enqueue", params={"mode": mode, "key": key},
                        auth=("editor", "password"))  # fmt: skip


def stored(site: dict[str, Any]) -> list[Any]:
    records: list[Any] = site["backend"].list_queued("normal", 0, 100)
    return records


def test_a_committed_request_stores_its_job_with_its_user(site: dict[str, Any]) -> None:
    answer = get(site, "ok", "a")
    assert answer.status_code == 200
    [job] = stored(site)
    assert job.id == answer.text
    assert job.enqueued_by is not None
    assert job.enqueued_by.to_json() == {
        "user_id": "editor", "context": {"users": "/plone/acl_users", "site": "/plone"},
    }  # fmt: skip


def test_a_failed_request_stores_nothing(site: dict[str, Any]) -> None:
    answer = get(site, "fail", "b")
    assert answer.status_code == 500
    assert stored(site) == []


def test_a_request_retried_after_a_conflict_stores_its_job_once(site: dict[str, Any]) -> None:
    from tests.plone import views

    answer = get(site, "conflict-once", "c")
    assert views.conflicts == {"c": 1}  # the first attempt raised ConflictError
    assert answer.status_code == 200
    [job] = stored(site)
    assert job.id == answer.text  # the retried attempt's job, not the first one's


@pytest.fixture
def integration() -> Iterator[Any]:
    yield from layered(INTEGRATION)


def test_run_pending_jobs_runs_them_in_the_tests_transaction(integration: Any) -> None:
    from tests.plone.views import EnqueueView

    portal = integration["portal"]
    view = EnqueueView(portal, integration["request"])
    job_id = view()
    [job] = run_pending_jobs()
    assert (job.id, job.status, job.return_value) == (job_id, "finished", "")
    assert job.record.enqueued_by is not None
    assert job.record.enqueued_by.user_id == TEST_USER_ID
