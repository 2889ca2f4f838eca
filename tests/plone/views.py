"""A view of the transaction tests: Plone code that enqueues, then ends as
the request's ``mode`` says (ok, fail, conflict-once)."""

from __future__ import annotations

from Products.Five.browser import BrowserView
from ZODB.POSException import ConflictError

from joblane.contrib.plone.queues import queue
from tests.plone.jobs import record

conflicts: dict[str, int] = {}
"""Conflicts raised per request key (?key=): the first attempt of conflict-once."""


class EnqueueView(BrowserView):
    def __call__(self) -> str:
        mode = self.request.form.get("mode", "ok")
        key = self.request.form.get("key", "")
        job = queue("normal").enqueue(record, key)
        if mode == "fail":
            raise ValueError("the request fails after its enqueue")
        if mode == "conflict-once" and not conflicts.get(key):
            conflicts[key] = 1
            raise ConflictError("a conflict on the request's first attempt")
        return job.id


tasks_seen: dict[str, dict[str, object]] = {}
"""What the task view saw, per ?key=: its user, layer and task headers."""


class AddTaskView(BrowserView):
    """Plone code that queues an HTTP task to the task view (``?key=``)."""

    def __call__(self) -> str:
        from joblane.contrib.plone.tasks import add

        key = self.request.form.get("key", "")
        site = "/".join(self.context.getPhysicalPath())
        task_id = add(f"{site}/@@joblane-test-task", params={"key": key})
        if self.request.form.get("mode") == "fail":
            raise ValueError("the request fails after its add")
        return task_id


class TaskView(BrowserView):
    """Registered for ITaskLayer: records who it runs as."""

    def __call__(self) -> str:
        from AccessControl.SecurityManagement import getSecurityManager

        from joblane.contrib.plone.interfaces import ITaskLayer

        key = self.request.form.get("key", "")
        tasks_seen[key] = {
            "user": getSecurityManager().getUser().getId(),
            "layer": ITaskLayer.providedBy(self.request),
            "headers": {
                name: self.request.getHeader(name)
                for name in ("X-Task-Id", "X-Task-User-Id", "X-Task-Signature")
            },
        }
        return f"ran {key}"
