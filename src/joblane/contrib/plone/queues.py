"""The instance's queues, on the backend :func:`.config.instance_url` names."""

from __future__ import annotations

from joblane.client import Queue
from joblane.contrib.plone.config import instance_backend
from joblane.core.queues import DEFAULT_QUEUE


def queue(name: str = DEFAULT_QUEUE) -> Queue:
    """The queue *name* (default ``normal``) of the instance's backend. An
    enqueue joins the current Zope transaction (see :mod:`.startup`)."""
    return Queue(name, backend=instance_backend())
