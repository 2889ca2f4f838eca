"""The example's job: create several Documents in a folder, as the enqueuer."""

from __future__ import annotations

from joblane.contrib.plone.site import site_job
from plone import api


@site_job
def create_items(folder_path: str, titles: list[str]) -> list[str]:
    """Create a Document per title in the folder at *folder_path* (relative
    to the site); returns their paths. Runs as the user who enqueued it."""
    folder = api.content.get(path=folder_path)
    if folder is None:
        raise LookupError(f"no folder at {folder_path}")
    created = []
    for title in titles:
        item = api.content.create(container=folder, type="Document", title=title)
        created.append("/".join(item.getPhysicalPath()))
    return created
