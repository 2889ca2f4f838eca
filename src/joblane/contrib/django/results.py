"""A joblane job as Django's ``TaskResult``: the status map, the attempts
(worker ids, first start) and the errors kept in the job's meta.

A job enqueued through :class:`~joblane.contrib.django.JoblaneBackend` carries
the call's own ``args`` and ``kwargs`` and, in ``meta["django"]``::

    {"task": "myapp.tasks.send", "backend": "default", "queue_name": "emails",
     "priority": 10, "takes_context": false, "run_after": 1767225600.0 | null,
     "attempts": [{"worker": "host.123.ab12", "started": 1767225601.2,
                   "error": {"exception_class_path": ..., "traceback": ...} | null}]}

``attempts`` is written by the ``manage.py joblane_worker`` process when each
attempt ends (:mod:`joblane.contrib.django.execution`); the attempt running now
is read from the job itself (its worker and start time).

Status map::

    queued, scheduled, deferred (a retry waiting too)  READY
    started                                             RUNNING
    finished                                            SUCCESSFUL
    failed, canceled, stopped                           FAILED
"""

from __future__ import annotations

import builtins
from datetime import UTC, datetime
from typing import Any

from django.utils.module_loading import import_string

from joblane.contrib.django.compat import (
    Task,
    TaskError,
    TaskResult,
    TaskResultDoesNotExist,
    TaskResultStatus,
)
from joblane.core.job import JobRecord
from joblane.core.outcome import JOB_TIMEOUT, WORKER_LOST
from joblane.core.serialization import decode_call, loads
from joblane.core.states import JobStatus

META_KEY = "django"
RUNNER = "joblane.contrib.django.execution.run_task"
ARUNNER = "joblane.contrib.django.execution.arun_task"
RUNNERS = frozenset({RUNNER, ARUNNER})

STATUS = {
    JobStatus.QUEUED: TaskResultStatus.READY,
    JobStatus.SCHEDULED: TaskResultStatus.READY,
    JobStatus.DEFERRED: TaskResultStatus.READY,
    JobStatus.STARTED: TaskResultStatus.RUNNING,
    JobStatus.FINISHED: TaskResultStatus.SUCCESSFUL,
    JobStatus.FAILED: TaskResultStatus.FAILED,
    JobStatus.CANCELED: TaskResultStatus.FAILED,
    JobStatus.STOPPED: TaskResultStatus.FAILED,
}


class TaskTimeoutError(TimeoutError):
    """The class an attempt killed at its job timeout is reported as."""


class TaskLostError(RuntimeError):
    """The class an attempt whose process died (kill -9, out of memory) is reported as."""


class TaskNotRunError(RuntimeError):
    """The class of an attempt the worker refused or could not start."""


def when(timestamp: float | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC)


def exception_class_path(reason: str) -> str:
    """The dotted class of the exception a failed attempt's text ends with:
    Python's traceback names the class as ``module.Class`` (``Class`` for a
    builtin); joblane's own reasons (a timeout, a lost process) map to the
    classes above."""
    last = reason.rstrip().rsplit("\n", 1)[-1]
    head = last.split(":", 1)[0].strip()
    if head == JOB_TIMEOUT:
        return f"{__name__}.TaskTimeoutError"
    if head == WORKER_LOST:
        return f"{__name__}.TaskLostError"
    if head.isidentifier() and isinstance(getattr(builtins, head, None), type):
        return f"builtins.{head}"
    if "." in head and all(part.isidentifier() for part in head.split(".")):
        return head
    return f"{__name__}.TaskNotRunError"


def task_meta(record: JobRecord) -> dict[str, Any]:
    """The job's ``meta["django"]``; TaskResultDoesNotExist if it is no Django task."""
    meta = record.meta.get(META_KEY) if record.func_name in RUNNERS else None
    if not isinstance(meta, dict) or not isinstance(meta.get("task"), str):
        raise TaskResultDoesNotExist(f"{record.id} is not a task of a Django tasks backend")
    return meta


def task_of(meta: dict[str, Any], run_after: datetime | None) -> Any:
    """The ``Task`` the job runs, with the priority, queue and backend it was enqueued with."""
    found = import_string(meta["task"])
    if not isinstance(found, Task):
        raise TaskResultDoesNotExist(f"{meta['task']} is no longer a task")
    return found.using(
        priority=meta["priority"], queue_name=meta["queue_name"],
        backend=meta["backend"], run_after=run_after,
    )  # fmt: skip


def to_result(record: JobRecord) -> Any:
    """The ``TaskResult`` of *record* (a job enqueued by a Django tasks backend)."""
    meta = task_meta(record)
    attempts: list[dict[str, Any]] = list(meta.get("attempts", []))
    status = STATUS[record.status]
    running = record.status is JobStatus.STARTED and record.started is not None
    workers = attempt_workers(record, attempts, running)
    starts = [a["started"] for a in attempts if a.get("started") is not None]
    first = starts[0] if starts else (record.started if running else None)
    errors = [TaskError(**a["error"]) for a in attempts if a.get("error")]
    if status is TaskResultStatus.FAILED and not errors and record.last_job_result:
        errors.append(failure(record.last_job_result))
    args, kwargs = decode_call(record.payload)
    result = TaskResult(
        task=task_of(meta, when(meta.get("run_after"))),
        id=record.id, status=status,
        enqueued_at=when(record.enqueued or record.created),
        started_at=when(first),
        last_attempted_at=when(record.started),
        finished_at=when(record.ended) if status in (
            TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED) else None,
        args=args, kwargs=kwargs, backend=meta["backend"],
        errors=errors, worker_ids=workers,
    )  # fmt: skip
    if status is TaskResultStatus.SUCCESSFUL and record.result is not None:
        object.__setattr__(result, "_return_value", loads(record.result))
    return result


def attempt_workers(record: JobRecord, attempts: list[dict[str, Any]], running: bool) -> list[str]:
    """One worker name per attempt started (``record.attempts``): those kept in
    meta, then, for attempts whose end the worker has not recorded yet (its
    callback runs just after the settle) and the one running now, the job's
    current worker. So a task's ``TaskContext.attempt`` is its attempt number."""
    workers = [a["worker"] for a in attempts][: record.attempts]
    missing = record.attempts - len(workers)
    return workers + [record.worker_name or ""] * missing if missing > 0 or running else workers


def failure(reason: str) -> Any:
    """A ``TaskError`` from a failed attempt's text (its traceback or joblane's reason)."""
    return TaskError(exception_class_path=exception_class_path(reason), traceback=reason)
