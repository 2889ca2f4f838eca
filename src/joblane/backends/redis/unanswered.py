"""Enqueues that got no reply: what they sent, so that their retry is recognised.

An enqueue that gives up after its jobs may have reached Redis raises
EnqueueOutcomeUnknownError: they may be stored (and even run by now). The
producer enqueues them again with the same ids, but its new records have a
new created time, and to enqueue.lua a job stored under the same id would be
another job: refused as a duplicate while it is live, replaced (and so run
again) once it ended. So each backend object remembers the records it sent
without a reply (the last LIMIT ids); an enqueue of a job with a remembered
id, queue, function and payload is sent as a retry of that record (its
created time, the "retrying" flag), and the script returns the job that the
lost call stored, if it did, whatever its status. A successful enqueue
forgets its ids.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

from joblane.core.job import JobRecord

LIMIT = 10_000
"""Ids remembered at most (the oldest are forgotten first)."""


class Unanswered:
    """The records of enqueues whose outcome is unknown, by job id. Thread-safe."""

    def __init__(self, limit: int = LIMIT) -> None:
        self._limit = limit
        self._sent: OrderedDict[str, JobRecord] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, jobs: Sequence[JobRecord]) -> None:
        with self._lock:
            for job in jobs:
                self._sent[job.id] = job
                self._sent.move_to_end(job.id)
            while len(self._sent) > self._limit:
                self._sent.popitem(last=False)

    def forget(self, jobs: Sequence[JobRecord]) -> None:
        if not self._sent:
            return  # the usual case, without taking the lock
        with self._lock:
            for job in jobs:
                self._sent.pop(job.id, None)

    def as_retries(self, jobs: Sequence[JobRecord]) -> tuple[Sequence[JobRecord], bool]:
        """*jobs*, each one that repeats a remembered record given that
        record's created time; and whether any does (then send them as a retry)."""
        if not self._sent:
            return jobs, False
        retried = False
        out: list[JobRecord] = []
        with self._lock:
            for job in jobs:
                sent = self._sent.get(job.id)
                if sent is not None and (sent.queue, sent.func_name, sent.payload) == (
                    job.queue, job.func_name, job.payload,
                ):  # fmt: skip
                    retried = True
                    if sent.created != job.created:
                        job = job.copy(created=sent.created)
                out.append(job)
        return out, retried
