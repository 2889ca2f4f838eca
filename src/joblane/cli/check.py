"""``joblane check``: a health check for a container or a load balancer.

Healthy means: the backend answers, every queue asked about is served by at
least one live worker (a registration that has not expired), and no ready job
of those queues has waited longer than ``--max-wait``: neither one on its queue
nor one a worker holds and has not begun (claimed ahead, or handed to an idle
worker at its enqueue on Redis). A worker that is alive
but stuck (stopped, wedged, cut off from its broker) keeps its registration
until it expires while jobs pile up behind it: the wait bound is what catches
it. Read-only: it uses only the backend's read API.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import click
import orjson

from joblane.backends.base import ReadOnlyBackend
from joblane.cli.common import finite, seconds
from joblane.config import backend_from_url
from joblane.core.job import JobRecord
from joblane.core.queues import DEFAULT_QUEUES, parse_queue_list
from joblane.core.states import Registry
from joblane.errors import BackendError, ConfigurationError, JoblaneError

HEALTHY = 0
BACKEND_DOWN = 3
NO_WORKER = 4
JOBS_WAITING = 5
DEFAULT_MAX_WAIT = 60.0
HELD_PAGE = 200
"""Started jobs read per queue to find one held by a worker but not begun."""


@dataclass(frozen=True, slots=True)
class Health:
    code: int
    reason: str
    message: str
    queue: str | None = None
    job_id: str | None = None
    waited: float | None = None


def ready_since(job: JobRecord) -> float | None:
    """When *job* last became ready: the latest of its enqueue, due time, start
    and end (a retry, a promoted scheduled job and a recovered job count from
    when they went back on the queue, not from their first enqueue)."""
    times = [t for t in (job.enqueued, job.scheduled, job.started, job.ended) if t is not None]
    return max(times) if times else None


def assess(backend: ReadOnlyBackend, queues: Sequence[str], max_wait: float) -> Health:
    """The health of *queues*: the first problem found, or HEALTHY."""
    now = backend.now()
    live = [w for w in backend.workers() if w.expires > now]
    for queue in queues:
        if not any(queue in w.queues for w in live):
            alive = f"{len(live)} live worker(s), none serves it" if live else "no live worker"
            message = f"no live worker serves queue {queue!r} ({alive})"
            return Health(NO_WORKER, "no-worker", message, queue)
    for queue in queues:
        oldest = backend.list_queued(queue, 0, 1)
        held = _held_not_begun(backend, queue)
        for job in (oldest[0] if oldest else None, held):
            since = None if job is None else ready_since(job)
            if job is None or since is None or now - since <= max_wait:
                continue
            waited = now - since
            if job is held:
                what = (f"job {job.id}, ready for {waited:.1f} s (over {max_wait:g} s), is held "
                        f"by worker {job.worker_name or '?'} and has not begun")  # fmt: skip
            else:
                what = (f"the oldest ready job {job.id} has waited {waited:.1f} s (over "
                        f"{max_wait:g} s) while {len(live)} worker(s) are registered")  # fmt: skip
            message = f"jobs waiting in queue {queue!r}: {what}"
            return Health(JOBS_WAITING, "jobs-waiting", message, queue, job.id, round(waited, 3))
    served = ", ".join(queues)
    return Health(HEALTHY, "healthy", f"healthy: {len(live)} live worker(s) serving {served}")


def _held_not_begun(backend: ReadOnlyBackend, queue: str) -> JobRecord | None:
    """The longest-ready job of *queue* that a worker holds but has not begun
    (claimed ahead, or handed to it at its enqueue), among the first
    HELD_PAGE of its started jobs (oldest claims first), or None."""
    held = [
        job
        for job in backend.list_registry(queue, Registry.STARTED, 0, HELD_PAGE)
        if job.started is None and ready_since(job) is not None
    ]
    return min(held, key=lambda job: ready_since(job) or 0.0, default=None)


def probe(url: str, queues: Sequence[str], max_wait: float) -> Health:
    """:func:`assess` on *url*, a backend that cannot be opened or read as BACKEND_DOWN."""
    try:
        backend = backend_from_url(url)
    except ConfigurationError:
        raise  # a bad URL is the caller's mistake, not the backend's
    except (JoblaneError, OSError) as error:
        return _down(error)
    try:
        return assess(backend, queues, max_wait)
    except (BackendError, OSError) as error:
        return _down(error)
    finally:
        with contextlib.suppress(JoblaneError, OSError):
            backend.close()


def _down(error: Exception) -> Health:
    detail = " ".join(str(error).split())  # one line
    return Health(BACKEND_DOWN, "backend-down", f"backend down: {type(error).__name__}: {detail}")


@click.command()
@click.option(
    "-q",
    "--queues",
    default=",".join(DEFAULT_QUEUES),
    show_default=True,
    help="Queues that must be served, comma-separated.",
)
@click.option(
    "--max-wait",
    type=seconds(0.0),
    callback=finite,
    default=DEFAULT_MAX_WAIT,
    show_default=True,
    help="Longest a ready job may wait before the check fails, in seconds.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@click.pass_context
def check(ctx: click.Context, queues: str, max_wait: float, as_json: bool) -> None:
    """Exit 0 if the backend answers, a live worker serves each queue and no
    ready job waited past --max-wait; else 3 (backend down), 4 (no live worker
    for a queue) or 5 (jobs waiting past the bound), with one line naming why."""
    names = parse_queue_list(queues)
    # The backend's own retry warnings would be more lines: the result says it all.
    quiet = logging.NullHandler()
    logger = logging.getLogger("joblane")
    logger.addHandler(quiet)
    try:
        health = probe(ctx.find_root().obj, names, max_wait)
    finally:
        logger.removeHandler(quiet)
    if as_json:
        fields = {
            "healthy": health.code == HEALTHY, "code": health.code, "reason": health.reason,
            "message": health.message, "queue": health.queue, "job_id": health.job_id,
            "waited": health.waited,
        }  # fmt: skip
        click.echo(orjson.dumps(fields).decode())
    elif health.code == HEALTHY:
        click.echo(health.message)
    else:
        click.echo(f"Error: {health.message}", err=True)
    ctx.exit(health.code)
