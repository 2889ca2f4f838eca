"""The tutorial's jobs with no worker at all: the immediate backend runs each job
in the caller, inside ``enqueue``, and records it as a worker would::

    .venv/bin/python docs/examples/immediate.py
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

from joblane import Queue
from joblane.backends.immediate import ImmediateBackend
from joblane.testing import ManualClock

sys.path.insert(0, str(Path(__file__).resolve().parent))

from myapp.tasks import import_feed, purge_cdn, send_digest, sync_content


def main() -> None:
    clock = ManualClock()
    backend = ImmediateBackend(clock=clock)  # or Queue(url="immediate://")
    queue = Queue("normal", backend=backend)

    job = queue.enqueue(purge_cdn, "https://example.com/news/")
    print(job.status, job.return_value)  # finished {'purged': 'https://example.com/news/'}

    # A failure is recorded on the job, never raised in the caller.
    broken = queue.enqueue(import_feed, "/nonexistent/feed.json")
    print(broken.status, (broken.last_job_result or "").strip().splitlines()[-1])

    # A retry with an interval waits in the scheduled registry; so does enqueue_in.
    flaky = queue.enqueue(sync_content, "https://partner.example.com/feed")
    later = queue.enqueue_in(timedelta(minutes=5), send_digest, ["editors@example.com"])
    print(flaky.status, flaky.retries_left, later.status)  # scheduled 2 scheduled

    # They run at the first enqueue or run_pending() after they are due.
    clock.advance(300)
    print("ran", backend.run_pending(), "job(s)")
    print(flaky.refresh().status, flaky.attempts, flaky.return_value)
    print(later.refresh().status, later.return_value)


if __name__ == "__main__":
    main()
