"""The tutorial (docs/tutorial/first-jobs.md) from start to end, without a second terminal.

It uses a SQLite file in a temporary directory and starts ``joblane worker`` in a
subprocess, as you would in another terminal::

    .venv/bin/python docs/examples/first_jobs.py
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

# So that myapp.tasks imports here by the same name as in the worker.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from myapp.tasks import (
    build_sitemap,
    import_feed,
    purge_cdn,
    send_digest,
    sync_content,
)

from joblane import Job, Queue

HERE = Path(__file__).resolve().parent


def joblane(*args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start the ``joblane`` command (``python -m joblane``) in the examples directory."""
    return subprocess.Popen([sys.executable, "-m", "joblane", *args], cwd=HERE, env=env)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="joblane-tutorial-") as tmp:
        tutorial(Path(tmp))


def tutorial(tmp: Path) -> None:
    url = f"sqlite:///{tmp / 'joblane.db'}"
    env = dict(os.environ, JOBLANE_URL=url)
    queue = Queue("normal", url=url)

    # 1. Enqueue: the job waits in its queue until a worker takes it.
    job = queue.enqueue(purge_cdn, "https://example.com/news/")
    print("enqueued", job.id, job.status)  # queued

    # 2. Later, at a time, with a retry policy, with a timeout, after another job.
    later = queue.enqueue_in(timedelta(seconds=2), send_digest, ["editors@example.com"])
    at = Queue("low", url=url).enqueue_at(
        datetime.now(UTC) + timedelta(seconds=3), build_sitemap, 0.1
    )
    flaky = queue.enqueue(sync_content, "https://partner.example.com/feed")
    slow = queue.enqueue(build_sitemap, 5, job_timeout=1)
    after = queue.enqueue(send_digest, ["web@example.com"], depends_on=job)
    feed = tmp / "feed.json"
    broken = queue.enqueue(import_feed, str(feed))
    for j in (later, at, flaky, slow, after, broken):
        print(f"  {j.func_name:<25} {j.status}")

    # 3. Run a worker (in the tutorial: `joblane worker --import myapp.tasks`).
    worker = joblane("worker", "--import", "myapp.tasks", "--concurrency", "2", env=env)
    try:
        # 4. Wait for the jobs and look at their outcome.
        print("purge_cdn:", job.wait(timeout=30).status, job.return_value)
        for j in (later, at, flaky, slow, after, broken):
            j.wait(timeout=30)
            reason = (j.last_job_result or "").strip().splitlines()
            error = reason[-1] if reason else None
            print(f"  {j.func_name:<25} {j.status:<9} attempts={j.attempts} "
                  f"return_value={j.return_value!r} last error={error}")  # fmt: skip

        # 5. A failed job: fix its cause, then requeue it.
        failed = queue.failed_job_registry.get_job_ids()
        print("failed registry:", len(failed), "jobs")
        feed.write_text(json.dumps([{"title": "one"}, {"title": "two"}]))
        Job.fetch(broken.id, url=url).requeue()
        print("requeued import_feed:", broken.wait(timeout=30).status, broken.return_value)
    finally:
        worker.send_signal(signal.SIGTERM)
        print("worker exit status:", worker.wait(timeout=60))

    # 6. What the queues hold now.
    joblane("info", env=env).wait(timeout=30)


if __name__ == "__main__":
    main()
