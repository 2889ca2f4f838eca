"""The worker side: the job function every Django task runs as, the worker's
attempt callback, and the slot hooks that handle Django's database connections.

::

    worker process (manage.py joblane_worker, Django set up once)
      |  closes its connections, forks its slots
      |                                slot process
      |                                  on_startup: close_all (no inherited connection)
      |                                  on_job_start: close_old_connections
      |                                  run_task / arun_task -> task_started, the task
      |                                  on_job_end: close_old_connections
      |  attempt_ended(job, outcome): the attempt into meta["django"]["attempts"],
      |  task_finished once the task ended (SUCCESSFUL or FAILED)

``attempt_ended`` runs in the worker process, where every end is known (a
timeout kill and a lost process too, which no code in the slot sees end).
"""

from __future__ import annotations

from typing import Any

from django.db import close_old_connections, connections

from joblane.contrib.django.compat import TaskContext, task_backends, task_finished, task_started
from joblane.contrib.django.results import META_KEY, RUNNERS, failure, to_result
from joblane.core.job import JobRecord
from joblane.core.outcome import Outcome, OutcomeKind
from joblane.core.states import JobStatus
from joblane.tasks import job
from joblane.worker.run import current_job


def _begin() -> Any:
    """The running task's result (RUNNING), announced by ``task_started``."""
    running = current_job()
    if running is None:
        raise RuntimeError("run_task runs only as a joblane job")
    backend = task_backends[running.meta[META_KEY]["backend"]]
    result = backend.get_result(running.id)
    task_started.send(type(backend), task_result=result)
    return result


@job
def run_task(*args: Any, **kwargs: Any) -> Any:
    """Run the Django task this job carries (``meta["django"]["task"]``)."""
    result = _begin()
    if result.task.takes_context:
        return result.task.func(TaskContext(task_result=result), *args, **kwargs)
    return result.task.func(*args, **kwargs)


@job
async def arun_task(*args: Any, **kwargs: Any) -> Any:
    """Run the Django task (a coroutine function) on the slot's event loop."""
    result = _begin()
    if result.task.takes_context:
        return await result.task.func(TaskContext(task_result=result), *args, **kwargs)
    return await result.task.func(*args, **kwargs)


def attempt_ended(record: JobRecord, outcome: Outcome) -> None:
    """The worker's on_success / on_failure callback: keep the attempt (its
    worker, start, error) in the job's meta; send ``task_finished`` when the
    task ended. Another worker may run the next attempt at once (a retry with
    no interval) and its own callback read meta before this one wrote it: the
    earlier attempt is then missing from ``worker_ids`` and ``errors``."""
    if record.func_name not in RUNNERS or META_KEY not in record.meta:
        return
    backend = task_backends[record.meta[META_KEY]["backend"]]
    store = backend.joblane_backend
    fresh = store.get(record.id)
    if fresh is None:
        return  # deleted already (result_ttl=0)
    meta = dict(fresh.meta)
    django_meta = dict(meta[META_KEY])
    error = None
    if outcome.kind in (OutcomeKind.FAILED, OutcomeKind.LOST):
        reason = record.last_job_result or outcome.error or "failed"
        found = failure(reason)
        error = {"exception_class_path": found.exception_class_path, "traceback": reason}
    attempt = {"worker": record.worker_name or "", "started": record.started, "error": error}
    django_meta["attempts"] = [*django_meta.get("attempts", []), attempt]
    meta[META_KEY] = django_meta
    store.save_meta(record.id, meta)
    if record.status in (JobStatus.FINISHED, JobStatus.FAILED):
        task_finished.send(type(backend), task_result=to_result(record.copy(meta=meta)))


def slot_started(ctx: dict[str, Any]) -> None:
    """on_startup: a forked slot holds no connection of its parent's (the
    worker closed them before forking; closing again is harmless)."""
    connections.close_all()


def job_boundary(ctx: dict[str, Any]) -> None:
    """on_job_start / on_job_end: close the connections a request would close
    (past ``CONN_MAX_AGE``, or broken), as Django does around each request."""
    close_old_connections()


def slot_stopping(ctx: dict[str, Any]) -> None:
    """on_shutdown: close every connection of the slot."""
    connections.close_all()
