"""The Plone worker runs site jobs in a real Plone site's ZODB, as their
enqueuer: FileStorage with one worker; ZEO with several workers at once.

Each step that needs the instance's Zope runs in a process of its own
(``zope_script.py``); the jobs are enqueued here, with the identity the
instance's provider captures (``users`` and ``site`` paths, as
test_transaction.py checks)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from joblane.client import Job, Queue
from joblane.identity import acting_as
from tests.plone.conftest import finish_layers
from tests.plone.instance import (
    RedisServer,
    ZEOServer,
    filestorage,
    make_instance,
    run_worker,
    start_worker,
    zeoclient,
    zope,
)

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(autouse=True)
def _no_layers(monkeypatch: pytest.MonkeyPatch) -> None:
    finish_layers()  # this process enqueues as a plain producer, outside any Zope
    monkeypatch.delenv("JOBLANE_URL", raising=False)


@pytest.fixture(scope="module")
def site_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Data.fs holding the site of zope_script's create-site, made once."""
    home = tmp_path_factory.mktemp("template") / "instance"
    zope(make_instance(home, filestorage(home)), "create-site")
    return home / "var" / "Data.fs"


def instance_from(template: Path, home: Path, storage: str | None = None) -> Path:
    """An instance over a copy of *template* (FileStorage unless *storage*)."""
    conf = make_instance(home, storage or filestorage(home))
    if storage is None:
        shutil.copy(template, home / "var" / "Data.fs")
    return conf


def enqueue_as(url: str, user: str, func: Any, *args: Any) -> Job:
    with acting_as(user, users="/Plone/acl_users", site="/Plone"):
        return Queue("normal", url=url).enqueue(func, *args)


def test_one_worker_on_filestorage_runs_jobs_in_the_site_as_their_users(
    tmp_path: Path, site_template: Path
) -> None:
    from joblane.contrib.plone.example.jobs import create_items
    from tests.plone.sitejobs import add_one, enqueue_whoami, whoami, whoami_in_plone

    conf = instance_from(site_template, tmp_path / "instance")
    url = f"sqlite:///{tmp_path}/jobs.db"
    as_editor = enqueue_as(url, "editor", whoami)
    as_boss = enqueue_as(url, "boss", whoami)
    items = enqueue_as(url, "editor", create_items, "/inbox", ["One", "Two", "Three"])
    refused = enqueue_as(url, "member", add_one, "/inbox", "by-member")
    gone = enqueue_as(url, "leaver", whoami)
    with acting_as("admin", users="/acl_users", site="/Plone"):  # the Zope root's user
        as_root_admin = Queue("normal", url=url).enqueue(whoami)
    nowhere = Queue("normal", url=url).enqueue(whoami)  # no user, no site
    anonymous = Queue("normal", url=url).enqueue(whoami_in_plone)
    parent = enqueue_as(url, "editor", enqueue_whoami, url)
    zope(conf, "delete-user", "leaver")
    # Seed 000: the worker reads PLONE_REDIS_DSN (here naming the SQLite file).
    os.environ["PLONE_REDIS_DSN"] = url
    try:
        run = run_worker(conf, url, "--concurrency", "1")
    finally:
        del os.environ["PLONE_REDIS_DSN"]
    assert run.returncode == 0, run.stderr[-5000:]
    assert as_editor.refresh().return_value == {"user": "editor", "site": "/Plone"}
    assert as_boss.refresh().return_value == {"user": "boss", "site": "/Plone"}
    assert as_root_admin.refresh().return_value == {"user": "admin", "site": "/Plone"}
    assert anonymous.refresh().return_value == {"user": None, "site": "/Plone"}
    child = Job.fetch(parent.refresh().return_value, url=url)
    assert child.record.enqueued_by is not None
    assert child.record.enqueued_by.to_json() == {
        "user_id": "editor", "context": {"users": "/Plone/acl_users", "site": "/Plone"}
    }  # fmt: skip
    assert child.return_value == {"user": "editor", "site": "/Plone"}
    nowhere.refresh()
    assert nowhere.status == "failed"
    assert nowhere.last_job_result is not None
    assert "needs a Plone site" in nowhere.last_job_result
    assert items.refresh().status == "finished", items.last_job_result
    assert items.return_value == ["/Plone/inbox/one", "/Plone/inbox/two", "/Plone/inbox/three"]
    refused.refresh()
    assert refused.status == "failed"
    assert refused.last_job_result is not None and "Unauthorized" in refused.last_job_result
    gone.refresh()
    assert gone.status == "failed"
    assert gone.last_job_result is not None
    assert "IdentityError" in gone.last_job_result
    assert "'leaver' no longer exists in /Plone/acl_users" in gone.last_job_result
    assert gone.attempts == 1  # not retried: the user is gone
    inbox = zope(conf, "inspect", "/Plone/inbox")["items"]
    assert [(i["id"], i["creators"]) for i in inbox] == [
        ("one", ["editor"]), ("two", ["editor"]), ("three", ["editor"]),
    ]  # fmt: skip


def test_a_conflict_in_a_site_job_aborts_and_runs_it_again(
    tmp_path: Path, site_template: Path
) -> None:
    from tests.plone.sitejobs import conflict_once

    conf = instance_from(site_template, tmp_path / "instance")
    url = f"sqlite:///{tmp_path}/jobs.db"
    job = enqueue_as(url, "boss", conflict_once, str(tmp_path / "marker"))
    run = run_worker(conf, url, "--concurrency", "1")
    assert run.returncode == 0, run.stderr[-5000:]
    job.refresh()
    assert job.status == "finished", job.last_job_result
    assert job.attempts == 1  # retried inside the attempt, as ZPublisher retries
    # The first run's write was aborted: the folder holds the second run's item only.
    inbox = zope(conf, "inspect", "/Plone/inbox")["items"]
    assert [i["id"] for i in inbox] == ["after-conflict"]


def test_several_workers_share_a_zeo_database_and_redis(
    tmp_path: Path, site_template: Path
) -> None:
    from tests.plone.sitejobs import add_one

    (tmp_path / "zeo").mkdir()
    shutil.copy(site_template, tmp_path / "zeo" / "zeo.fs")
    redis_server = RedisServer(tmp_path / "redis")
    zeo = ZEOServer(tmp_path / "zeo")
    try:
        conf = instance_from(site_template, tmp_path / "instance", zeoclient(zeo.port))
        url = redis_server.url  # seed 000's production shape: Redis, several workers
        jobs = [enqueue_as(url, "editor", add_one, "/inbox", f"item-{n}") for n in range(12)]
        workers = [start_worker(conf, url, "--concurrency", "2") for _ in range(2)]
        outputs = [w.communicate(timeout=300)[0] for w in workers]
        assert [w.returncode for w in workers] == [0, 0], "\n".join(o[-3000:] for o in outputs)
        for job in jobs:
            job.refresh()
            assert job.status == "finished", job.last_job_result
        assert len({job.worker_name for job in jobs}) >= 1
        inbox = zope(conf, "inspect", "/Plone/inbox")["items"]
        assert sorted(i["id"] for i in inbox) == sorted(f"item-{n}" for n in range(12))
        assert {tuple(i["creators"]) for i in inbox} == {("editor",)}
    finally:
        zeo.stop()
        redis_server.stop()
