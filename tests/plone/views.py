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
