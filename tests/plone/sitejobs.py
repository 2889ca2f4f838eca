"""Site jobs of the worker tests (the worker imports this module)."""

from __future__ import annotations

from joblane import Retry
from joblane.contrib.plone.site import site_job
from plone import api


@site_job(retry=Retry(max=5, interval=[0], on=("ZODB.POSException.ConflictError",)))
def add_one(folder_path: str, item_id: str) -> str:
    """One Document in the folder: several at once conflict on the folder (and
    on the site's uid tool), beyond what the conflict retries absorb, so the
    job's retry policy takes the rest."""
    folder = api.content.get(path=folder_path)
    item = api.content.create(container=folder, type="Document", id=item_id, title=item_id)
    return "/".join(item.getPhysicalPath())


@site_job
def whoami() -> dict[str, object]:
    """The user the job runs as, and the site it runs in."""
    user = api.user.get_current()
    return {"user": user.getId(), "site": "/".join(api.portal.get().getPhysicalPath())}


@site_job
def conflict_once(marker: str) -> str:
    """Writes to the site, then raises ConflictError the first time (a marker
    file outside the ZODB remembers it), as a concurrent commit would."""
    from pathlib import Path

    from ZODB.POSException import ConflictError

    folder = api.content.get(path="/inbox")
    if not Path(marker).exists():
        Path(marker).write_text("1")
        api.content.create(container=folder, type="Document", id="before-conflict", title="x")
        raise ConflictError("a concurrent change to the inbox")
    api.content.create(container=folder, type="Document", id="after-conflict", title="y")
    return "done"


@site_job(site="/Plone")
def whoami_in_plone() -> dict[str, object]:
    """whoami for a job enqueued outside any site: it names its site."""
    user = api.user.get_current()
    return {"user": user.getId(), "site": "/".join(api.portal.get().getPhysicalPath())}


@site_job
def enqueue_whoami(url: str) -> str:
    """A site job that enqueues another: it joins this job's transaction and
    is enqueued by this job's user."""
    from joblane.client import Queue

    return Queue("normal", url=url).enqueue(whoami).id
