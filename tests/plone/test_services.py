"""Seed 000's REST services on a real Plone 6 site, over a real WSGI server:
the shapes and paging of the Starlette API, the seed's two clients unchanged,
401/403 for Anonymous and a Member, the permission's default roles, and the
profile's install and uninstall."""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import transaction
from plone.app.testing import (
    applyProfile,
)

from joblane.client import Queue
from joblane.config import shared_backend
from joblane.contrib.plone.testing import JOBLANE_INTEGRATION_TESTING, JOBLANE_SERVER_TESTING
from joblane.identity import ignore
from joblane.tasks import job
from tests.plone.conftest import layered
from tests.plone.seed000_client import wait_for_job

URL = ""

PASSWORD = "password"


def fail(url: str) -> None:
    raise RuntimeError(f"failed for {url}")


@job
def ok(value: int) -> int:
    return value


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, Any]]:
    global URL
    URL = f"sqlite:///{tmp_path}/jobs.db"
    for layer in layered(JOBLANE_SERVER_TESTING):
        monkeypatch.setenv("JOBLANE_URL", URL)
        portal = layer["portal"]
        acl = portal.acl_users
        acl.userFolderAddUser("siteadmin", PASSWORD, ["Site Administrator"], [])
        acl.userFolderAddUser("manager", PASSWORD, ["Manager"], [])
        acl.userFolderAddUser("member", PASSWORD, ["Member"], [])
        transaction.commit()
        site_url = f"http://{layer['host']}:{layer['port']}/plone"
        yield {"site_url": site_url, "queue": Queue("normal", url=URL), "layer": layer}


def test_the_services_answer_the_starlette_apis_shapes(server: dict[str, Any]) -> None:
    from joblane.monitor.views import MonitorViews

    queue = server["queue"]
    jobs = [queue.enqueue(ok, n) for n in range(3)]
    transaction.commit()  # enqueues join the test's transaction (JOBLANE_FIXTURE)
    site = server["site_url"]
    auth = ("manager", PASSWORD)
    views = MonitorViews(shared_backend(URL), ("important", "normal", "low"))
    listed = requests.get(f"{site}/@rq-queues", auth=auth, headers={"Accept": "application/json"})
    assert listed.status_code == 200
    assert listed.content == views.list_queues().body
    assert [q["name"] for q in listed.json()["items"]] == ["important", "low", "normal"]
    one = requests.get(
        f"{site}/@rq-queues/normal", auth=auth, headers={"Accept": "application/json"}
    )
    assert one.json() == views.get_queue("normal").json()
    assert one.json()["count"] == 3
    page = requests.get(f"{site}/@rq-queues/normal/deferred_job_registry?limit=1", auth=auth,
                        headers={"Accept": "application/json"})  # fmt: skip
    assert page.status_code == 200 and page.json()["items"] == []
    job = requests.get(f"{site}/@rq-job/normal/{jobs[0].id}", auth=auth,
                       headers={"Accept": "application/json"})  # fmt: skip
    assert job.content == views.get_job("normal", jobs[0].id).body
    assert list(job.json())[:13] == [
        "id", "description", "args", "created", "enqueued", "ended", "scheduled",
        "func_name", "retries_left", "return_value", "ttl", "result_ttl", "last_job_result",
    ]  # fmt: skip
    missing = requests.get(f"{site}/@rq-job/normal/nosuchjob", auth=auth,
                           headers={"Accept": "application/json"})  # fmt: skip
    assert (missing.status_code, missing.json()) == (404, {})
    unknown = requests.get(f"{site}/@rq-queues/nightly", auth=auth,
                           headers={"Accept": "application/json"})  # fmt: skip
    assert unknown.status_code == 404
    assert unknown.json()["error"]["message"] == "unknown queue 'nightly'"


def test_paging_follows_the_link_header(server: dict[str, Any]) -> None:
    from tests.plone.jobs import fails

    queue = server["queue"]
    for n in range(5):
        queue.enqueue(fails, n)
    transaction.commit()
    backend = shared_backend(URL)
    from joblane.worker.worker import Worker

    Worker(backend, ["normal"], executor="thread", burst=True, concurrency=1, identity=ignore).run(
        install_signals=False
    )
    site = server["site_url"]
    url = f"{site}/@rq-queues/normal/failed_job_registry?limit=2"
    seen = []
    while url:
        answer = requests.get(
            url, auth=("manager", PASSWORD), headers={"Accept": "application/json"}
        )
        assert answer.status_code == 200
        seen += [item["id"] for item in answer.json()["items"]]
        link = answer.headers.get("Link")
        url = "" if not link else url.split("?")[0] + link[1 : link.index(">")]
    assert len(seen) == len(set(seen)) == 5
    bad = requests.get(f"{site}/@rq-queues?limit=x", auth=("manager", PASSWORD),
                       headers={"Accept": "application/json"})  # fmt: skip
    assert bad.status_code == 400
    assert bad.json() == {
        "error": {
            "type": "BadRequest",
            "message": "limit must be an integer from 0 to 1000, not 'x'",
        }
    }
    twice = requests.get(f"{site}/@rq-queues?limit=1&limit=2", auth=("manager", PASSWORD),
                         headers={"Accept": "application/json"})  # fmt: skip
    assert twice.status_code == 400
    assert twice.json()["error"]["message"] == "give limit once, not 2 times"
    deeper = requests.get(f"{site}/@rq-job/normal/a/b", auth=("manager", PASSWORD),
                          headers={"Accept": "application/json"})  # fmt: skip
    assert deeper.status_code == 404


def test_anonymous_and_a_member_are_refused(server: dict[str, Any]) -> None:
    site = server["site_url"]
    anonymous = requests.get(f"{site}/@rq-queues", headers={"Accept": "application/json"})
    assert anonymous.status_code == 401
    member = requests.get(f"{site}/@rq-queues", auth=("member", PASSWORD),
                          headers={"Accept": "application/json"})  # fmt: skip
    assert member.status_code in (401, 403)
    job = requests.get(f"{site}/@rq-job/normal/x", auth=("member", PASSWORD),
                       headers={"Accept": "application/json"})  # fmt: skip
    assert job.status_code in (401, 403)
    admin = requests.get(f"{site}/@rq-queues", auth=("siteadmin", PASSWORD),
                         headers={"Accept": "application/json"})  # fmt: skip
    assert admin.status_code == 200


def test_seed_000s_python_client_polls_a_job_with_basic_auth(server: dict[str, Any]) -> None:
    from joblane.worker.worker import WorkerThread

    job = server["queue"].enqueue(ok, 42)
    transaction.commit()
    with WorkerThread(shared_backend(URL), ["normal"], concurrency=1, identity=ignore):
        result = wait_for_job(server["site_url"], "normal", job.id, ("manager", PASSWORD))
    assert result["id"] == job.id
    assert result["return_value"] == 42, result["last_job_result"]
    with pytest.raises(RuntimeError, match="Job not found"):
        wait_for_job(server["site_url"], "normal", "nosuchjob", ("manager", PASSWORD))


SEED_JS = """
async function listQueues(siteUrl, token) {
    const response = await fetch(`${siteUrl}/@rq-queues`, {
        headers: {
            'Accept': 'application/json',
            'Authorization': `Bearer ${token}`
        }
    });
    const data = await response.json();
    return data.items;
}
"""


def test_seed_000s_javascript_client_lists_queues_with_a_login_token(
    server: dict[str, Any], tmp_path: Path
) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed (.ci/run installs it: apt-get install nodejs)")
    server["queue"].enqueue(ok, 1)
    transaction.commit()
    script = tmp_path / "client.mjs"
    script.write_text(
        SEED_JS
        + textwrap.dedent("""
        const site = process.argv[2];
        const login = await fetch(`${site}/@login`, {
            method: 'POST',
            headers: {'Accept': 'application/json', 'Content-Type': 'application/json'},
            body: JSON.stringify({login: 'siteadmin', password: 'password'}),
        });
        const { token } = await login.json();
        // Usage
        const queues = await listQueues(site, token);
        queues.forEach(q => console.log(`${q.name}: ${q.count} pending`));
    """)
    )
    out = subprocess.run([node, str(script), server["site_url"]], capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["important: 0 pending", "low: 0 pending",
                                       "normal: 1 pending"]  # fmt: skip


@pytest.fixture
def integration() -> Iterator[Any]:
    yield from layered(JOBLANE_INTEGRATION_TESTING)


def test_the_permission_goes_to_manager_and_site_administrator(integration: Any) -> None:
    portal = integration["portal"]
    roles = {r["name"] for r in portal.rolesOfPermission("joblane: View queues") if r["selected"]}
    assert roles == {"Manager", "Site Administrator"}


def test_uninstall_removes_the_services(integration: Any) -> None:
    from plone.browserlayer.utils import registered_layers

    from joblane.contrib.plone.interfaces import IJoblaneLayer

    portal = integration["portal"]
    assert IJoblaneLayer in registered_layers()
    assert "joblane.url" in portal.portal_registry.records
    applyProfile(portal, "joblane.contrib.plone:uninstall")
    assert IJoblaneLayer not in registered_layers()
    assert "joblane.url" not in portal.portal_registry.records


def test_a_backend_that_does_not_answer_is_503(
    server: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.plone.instance import free_port

    monkeypatch.setenv("JOBLANE_URL", f"redis://127.0.0.1:{free_port()}/0")  # nothing listens
    answer = requests.get(f"{server['site_url']}/@rq-queues", auth=("manager", PASSWORD),
                          headers={"Accept": "application/json"})  # fmt: skip
    assert answer.status_code == 503
    assert answer.json() == {
        "error": {
            "type": "ServiceUnavailable",
            "message": "the job backend is unavailable; try again later",
        }
    }
