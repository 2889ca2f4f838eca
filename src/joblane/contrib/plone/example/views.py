"""The example's two views (see the package docstring)."""

from __future__ import annotations

import json
from typing import Any

from Products.Five.browser import BrowserView

from joblane.contrib.plone.config import instance_backend
from joblane.contrib.plone.example.jobs import create_items
from joblane.contrib.plone.queues import queue
from joblane.core.states import Registry
from joblane.monitor.schemas import job_json
from plone import api

MAX_ITEMS = 100


class CreateItems(BrowserView):
    """Enqueue the creation of ``count`` Documents in this folder; answer the job id."""

    def __call__(self) -> str:
        try:
            count = int(self.request.form.get("count", "3"))
        except ValueError:
            count = -1
        if not 1 <= count <= MAX_ITEMS:
            self.request.response.setStatus(400)
            return self._json({"error": f"count must be an integer from 1 to {MAX_ITEMS}"})
        title = str(self.request.form.get("title", "Item"))
        site_path = "/".join(api.portal.get().getPhysicalPath())
        folder_path = "/".join(self.context.getPhysicalPath())[len(site_path) :] or "/"
        titles = [f"{title} {n}" for n in range(1, count + 1)]
        job = queue("normal").enqueue(create_items, folder_path, titles)
        return self._json(
            {"job_id": job.id, "queue": job.queue, "status": f"@rq-job/{job.queue}/{job.id}"}
        )

    def _json(self, data: Any) -> str:
        self.request.response.setHeader("Content-Type", "application/json")
        return json.dumps(data)


class MyJobs(BrowserView):
    """The current user's queued and running jobs of the normal queue, in the
    REST services' job shape (newest first, at most 100 of each)."""

    def __call__(self) -> str:
        user_id = api.user.get_current().getId()
        backend = instance_backend()
        queued = backend.list_queued("normal", 0, 100)
        running = backend.list_registry("normal", Registry.STARTED, 0, 100)

        def mine(records: Any) -> list[dict[str, Any]]:
            return [
                job_json(r)
                for r in records
                if r.enqueued_by is not None and r.enqueued_by.user_id == user_id
            ]

        self.request.response.setHeader("Content-Type", "application/json")
        self.request.response.setHeader("Cache-Control", "no-store")
        return json.dumps({"user": user_id, "queued": mine(queued), "running": mine(running)})
