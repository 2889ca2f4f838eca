"""Application code that enqueues: what happens when an editor publishes a page."""

from __future__ import annotations

from joblane import Job, Queue
from myapp.tasks import purge_cdn, send_digest


def publish(url: str, queue: Queue) -> tuple[Job, Job]:
    """Purge the page from the CDN now, then tell the editors once that is done."""
    purge = queue.enqueue(purge_cdn, url)
    notify = queue.enqueue(send_digest, ["editors@example.com"], depends_on=purge)
    return purge, notify
