"""``JoblaneBackend``: a backend for Django's tasks framework that stores each
task as a joblane job, run by ``manage.py joblane_worker``.

::

    TASKS = {
        "default": {
            "BACKEND": "joblane.contrib.django.JoblaneBackend",
            "QUEUES": ["default", "emails"],          # Django queue names
            "OPTIONS": {
                "URL": "sqlite:///jobs.db",           # joblane backend (default: JOBLANE_URL)
                "RETRY": 3,                           # or {"max": 3, "interval": [10, 60]}
                "JOB_TIMEOUT": 300,                   # seconds per attempt
                "RESULT_TTL": 86400,                  # seconds a result is kept
                "FAILURE_TTL": 604800,                # seconds a failed task is kept
                "ENQUEUE_ON_COMMIT": None,            # see below
                "DATABASE": "default",                # the alias ENQUEUE_ON_COMMIT follows
                "IN_TRANSACTION": False,              # see below (postgresql:// only)
            },
        }
    }

Queues and priorities
---------------------
A Django queue is three joblane queues, one per tier: Django's priority
(-100..100) picks the tier, ``priority > 0`` *important*, ``0`` *normal*,
``priority < 0`` *low*; the joblane queue is ``<queue_name>.<tier>``
(``default.important``, ``default.normal``, ``default.low``). A worker serves
every tier of every queue it is given, all *important* queues before any
*normal* one (strict priority across Django queues), and the Django queues in
``QUEUES`` order within a tier. Priorities within one tier run in enqueue
order: joblane's priority is the tier, not the number.

``QUEUES`` is checked as Django checks it (a task's ``queue_name`` must be in
it; an empty list allows any), and each name must make valid joblane queue
names (ASCII letters, digits, ``_ - .``, at most 54 characters).

Enqueue on commit
-----------------
``ENQUEUE_ON_COMMIT``: ``True`` stores a task enqueued inside a transaction of
the ``DATABASE`` alias when it commits (never if it rolls back), through the
``on_commit`` adapter of :mod:`joblane.contrib.django`; ``False`` stores it at
once, transaction or not; ``None`` (the default) does what the process does
for every joblane enqueue: on commit where ``joblane.contrib.django`` is in
``INSTALLED_APPS`` (or :func:`~joblane.contrib.django.install` was called),
else at once. ``task_enqueued`` is sent when ``enqueue`` returns.

Inside the transaction
----------------------
``IN_TRANSACTION``: ``True``, with a ``postgresql://`` URL on the database of
the ``DATABASE`` alias, writes a task enqueued inside a transaction of that
alias *in* it, through Django's own connection
(:func:`joblane.contrib.postgres.using`): the job commits or rolls back with
the rows it is about, with no after-commit window at all (a process killed
right after the commit loses nothing). Outside a transaction it is stored at
once. It excludes ``ENQUEUE_ON_COMMIT=True``; another URL is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from inspect import iscoroutinefunction
from typing import Any

from django.conf import settings
from django.core import checks
from django.db import connections

from joblane.backends.base import Backend
from joblane.building import PreparedJob, build_job

# The tasks backend is a producer: it builds and stores jobs through the client
# (Queue, Job), as any application code does, so that transactions, async
# stores and requeue behave as they do everywhere else.
from joblane.client import Job, Queue
from joblane.config import backend_factory, redact_url, resolve_url, shared_backend, url_scheme
from joblane.contrib.django.adapter import DjangoJobs
from joblane.contrib.django.compat import (
    DEFAULT_TASK_QUEUE_NAME,
    BaseBackend,
    InvalidTaskBackendError,
    InvalidTaskError,
    TaskResultDoesNotExist,
    task_enqueued,
    task_finished,
)
from joblane.contrib.django.results import (
    ARUNNER,
    META_KEY,
    RUNNER,
    failure,
    to_result,
)
from joblane.contrib.postgres import using
from joblane.core.job import JobRecord
from joblane.core.queues import QUEUE_NAME_MAX, validate_job_id, validate_queue_name
from joblane.core.retry import Retry
from joblane.core.states import JobStatus
from joblane.errors import ConfigurationError, JoblaneError, NoSuchJobError

TIERS = ("important", "normal", "low")
"""joblane's tiers, highest first: the suffixes of a Django queue's joblane queues."""
LONGEST_QUEUE = QUEUE_NAME_MAX - len(".important")
OPTION_NAMES = frozenset({"URL", "RETRY", "JOB_TIMEOUT", "RESULT_TTL", "FAILURE_TTL",
                          "ENQUEUE_ON_COMMIT", "DATABASE", "IN_TRANSACTION"})  # fmt: skip


def tier(priority: int) -> str:
    """The joblane tier of a Django priority: > 0 important, 0 normal, < 0 low."""
    return "important" if priority > 0 else "normal" if priority == 0 else "low"


def joblane_queue(queue_name: str, priority: int) -> str:
    """The joblane queue a task of *queue_name* and *priority* goes to."""
    return f"{queue_name}.{tier(priority)}"


def worker_queues(queue_names: Iterable[str]) -> list[str]:
    """The joblane queues serving *queue_names*, highest priority first: every
    queue's important tier, then every normal, then every low."""
    names = list(queue_names)
    return [f"{name}.{t}" for t in TIERS for name in names]


def queue_problem(name: object) -> str | None:
    """Why the Django queue *name* cannot be served by joblane, or None."""
    if not isinstance(name, str):
        return f"queue name {name!r} is not a str"
    if len(name) > LONGEST_QUEUE:
        return f"queue name {name[:80]!r} is over {LONGEST_QUEUE} characters"
    try:
        validate_queue_name(f"{name}.normal")
    except JoblaneError:
        return f"queue name {name!r} must use ASCII letters, digits, '_', '-' or '.'"
    return None


def job_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """joblane's job options from the backend's OPTIONS (checked by a trial build)."""
    found: dict[str, Any] = {}
    retry = options.get("RETRY")
    if isinstance(retry, Mapping):
        found["retry"] = Retry(**retry)
    elif retry is not None:
        found["retry"] = retry
    for name in ("JOB_TIMEOUT", "RESULT_TTL", "FAILURE_TTL"):
        if options.get(name) is not None:
            found[name.lower()] = options[name]
    build_job("default.normal", RUNNER, (), {}, dict(found), now=0.0)
    return found


def ran_inline(store: Backend, record: JobRecord) -> JobRecord:
    """A task the ``immediate://`` backend ran inside ``enqueue``: its (last)
    attempt kept in meta and ``task_finished`` sent, as a worker would."""
    meta = dict(record.meta)
    django_meta = dict(meta[META_KEY])
    reason = record.last_job_result
    error = None
    if record.status is not JobStatus.FINISHED and reason:
        error = {"exception_class_path": failure(reason).exception_class_path, "traceback": reason}
    attempt = {"worker": record.worker_name or "", "started": record.started, "error": error}
    django_meta["attempts"] = [attempt]
    meta[META_KEY] = django_meta
    store.save_meta(record.id, meta)
    record = record.copy(meta=meta)
    if record.status in (JobStatus.FINISHED, JobStatus.FAILED):
        task_finished.send(JoblaneBackend, task_result=to_result(record))
    return record


class JoblaneBackend(BaseBackend):  # type: ignore[misc]
    """Django's tasks framework on joblane (see the module docstring)."""

    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        options = self.options
        if not isinstance(options, Mapping):
            raise InvalidTaskBackendError(f"TASKS[{alias!r}]['OPTIONS'] must be a dict")
        unknown = sorted(set(options) - OPTION_NAMES)
        if unknown:
            raise InvalidTaskBackendError(
                f"TASKS[{alias!r}]['OPTIONS'] has unknown keys {unknown}; "
                f"known: {sorted(OPTION_NAMES)}"
            )
        try:
            self.job_options = job_options(options)
        except (JoblaneError, TypeError) as error:
            raise InvalidTaskBackendError(f"TASKS[{alias!r}]['OPTIONS']: {error}") from error
        self.url = resolve_url(options.get("URL"))
        on_commit = options.get("ENQUEUE_ON_COMMIT")
        if on_commit not in (None, True, False):
            raise InvalidTaskBackendError(
                f"TASKS[{alias!r}]['OPTIONS']['ENQUEUE_ON_COMMIT'] must be True, False or None"
            )
        self.enqueue_on_commit: bool | None = on_commit
        self.database: str = options.get("DATABASE", "default")
        in_transaction = options.get("IN_TRANSACTION", False)
        if not isinstance(in_transaction, bool):
            raise InvalidTaskBackendError(
                f"TASKS[{alias!r}]['OPTIONS']['IN_TRANSACTION'] must be True or False"
            )
        if in_transaction and on_commit:
            raise InvalidTaskBackendError(
                f"TASKS[{alias!r}]['OPTIONS']: IN_TRANSACTION writes the task in the "
                "transaction, ENQUEUE_ON_COMMIT after it: choose one"
            )
        if in_transaction and not self.url.startswith(("postgresql://", "postgres://")):
            raise InvalidTaskBackendError(
                f"TASKS[{alias!r}]['OPTIONS']['IN_TRANSACTION'] needs a postgresql:// URL "
                "on the DATABASE alias's database"
            )
        self.in_transaction: bool = in_transaction
        self._confined: Backend | None = None
        self.queue_order = list(dict.fromkeys(params.get("QUEUES", [DEFAULT_TASK_QUEUE_NAME])))

    @property
    def joblane_backend(self) -> Backend:
        """The joblane backend at ``OPTIONS["URL"]`` (one per process, opened at
        first use); ``memory://`` and ``immediate://``, which live in their object,
        one per Django backend."""
        if self._confined is not None:
            return self._confined
        store = shared_backend(self.url)
        if not store.capabilities.shared_between_processes:
            self._confined = store
        return store

    def validate_task(self, task: Any) -> None:
        super().validate_task(task)
        problem = queue_problem(task.queue_name)
        if problem is not None:
            raise InvalidTaskError(problem)

    # -- enqueue ----------------------------------------------------------------

    def prepare(self, task: Any, args: Any, kwargs: Any) -> PreparedJob:
        """The job for ``task(*args, **kwargs)``, built (validated, no I/O)."""
        self.validate_task(task)
        run_after: datetime | None = task.run_after
        meta = {META_KEY: {
            "task": task.module_path, "backend": self.alias, "queue_name": task.queue_name,
            "priority": task.priority, "takes_context": task.takes_context,
            "run_after": None if run_after is None else run_after.timestamp(),
        }}  # fmt: skip
        runner = ARUNNER if iscoroutinefunction(task.func) else RUNNER
        queue = self.queue_for(task)
        return queue.build_call(runner, list(args), dict(kwargs), at=run_after, meta=meta,
                                **self.job_options)  # fmt: skip

    def queue_for(self, task: Any) -> Queue:
        return Queue(joblane_queue(task.queue_name, task.priority), backend=self.joblane_backend)

    def enqueue(self, task: Any, args: Any, kwargs: Any) -> Any:
        """Store the task as a joblane job (at the commit, with ENQUEUE_ON_COMMIT)."""
        prepared = self.prepare(task, args, kwargs)
        backend = self.joblane_backend
        if self.in_transaction and connections[self.database].in_atomic_block:
            with using(connections[self.database]):
                record = self.queue_for(task).store([prepared])[0].record
            return self._enqueued(record)
        pending = DjangoJobs(self.database).pending() if self.enqueue_on_commit else None
        if pending is not None:
            record = pending.add(backend, [prepared.record], prepared.unique)[0]
        elif self.enqueue_on_commit is False:
            record = backend.enqueue([prepared.record], unique=prepared.unique)[0]
        else:
            record = self.queue_for(task).store([prepared])[0].record
        return self._enqueued(record)

    async def aenqueue(self, task: Any, args: Any, kwargs: Any) -> Any:
        """:meth:`enqueue` for async code: built here, the store awaited."""
        if self.enqueue_on_commit or self.in_transaction:
            return await super().aenqueue(task, args, kwargs)  # Django's connection is sync
        prepared = self.prepare(task, args, kwargs)
        job = (await self.queue_for(task).astore([prepared]))[0]
        return self._enqueued(job.record)

    def _enqueued(self, record: Any) -> Any:
        store = self.joblane_backend
        if store.capabilities.runs_inline and record.ended is not None:
            record = ran_inline(store, record)  # immediate://: it ran in enqueue
        result = to_result(record)
        task_enqueued.send(type(self), task_result=result)
        return result

    # -- results ----------------------------------------------------------------

    def get_result(self, result_id: str) -> Any:
        """The task's result as stored now, from any process; TaskResultDoesNotExist
        for an unknown id (or one that is no Django task)."""
        try:
            job = Job.fetch(validate_job_id(result_id), backend=self.joblane_backend)
        except (NoSuchJobError, JoblaneError) as error:
            raise TaskResultDoesNotExist(result_id) from error
        return to_result(job.record)

    async def aget_result(self, result_id: str) -> Any:
        try:
            job = await Job.afetch(validate_job_id(result_id), backend=self.joblane_backend)
        except (NoSuchJobError, JoblaneError) as error:
            raise TaskResultDoesNotExist(result_id) from error
        return to_result(job.record)

    def requeue(self, result_id: str) -> Any:
        """Run a FAILED task again, under the same id (joblane's ``Job.requeue``);
        returns its result, READY. Raises TaskResultDoesNotExist, or joblane's
        InvalidStateError for a task that has not failed."""
        self.get_result(result_id)  # a Django task of this backend, or DoesNotExist
        job = Job.fetch(result_id, backend=self.joblane_backend).requeue()
        return to_result(job.record)

    # -- checks -----------------------------------------------------------------

    def check(self, **kwargs: Any) -> Iterable[checks.CheckMessage]:
        """System checks: the URL names a backend this process can open, and every
        queue of QUEUES makes valid joblane queue names."""
        yield from super().check(**kwargs)
        where = f"TASKS[{self.alias!r}]"
        try:
            backend_factory(url_scheme(self.url), self.url)
        except ConfigurationError as error:
            yield checks.Error(
                f"{where}['OPTIONS']['URL'] {redact_url(self.url)!r}: {error}",
                hint="Use sqlite:///path.db, redis://host:6379/0 or another joblane backend URL.",
                id="joblane.E001",
            )
        else:
            if url_scheme(self.url) == "memory":
                yield checks.Warning(
                    f"{where}: the memory backend is not shared between processes; "
                    "no joblane_worker process can run its tasks",
                    id="joblane.W001",
                )
        if self.enqueue_on_commit and self.database not in settings.DATABASES:
            yield checks.Error(
                f"{where}['OPTIONS']['DATABASE'] {self.database!r} is not in DATABASES",
                id="joblane.E003",
            )
        for name in self.queue_order:
            problem = queue_problem(name)
            if problem is not None:
                yield checks.Error(f"{where}['QUEUES']: {problem}", id="joblane.E002")


def check_backends(app_configs: Any = None, **kwargs: Any) -> Iterable[checks.CheckMessage]:
    """The checks of every joblane backend of ``TASKS``, for a site on the
    backport without ``django_tasks`` in INSTALLED_APPS (which would run them;
    Django 6 always does)."""
    from django.apps import apps

    from joblane.contrib.django.compat import SOURCE, task_backends

    if SOURCE != "django_tasks" or apps.is_installed("django_tasks"):
        return []
    return [m for backend in task_backends.all() if isinstance(backend, JoblaneBackend)
            for m in backend.check()]  # fmt: skip
