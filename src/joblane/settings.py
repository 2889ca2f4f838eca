"""Worker settings in arq's style: a class or a module that lists the tasks.

::

    async def send_invoice_email(ctx, invoice_id: int) -> None: ...

    class WorkerSettings:
        functions = [send_invoice_email]
        cron_jobs = [cron(cleanup_stale_invoices, hour=3, minute=0)]
        max_jobs = 50
        job_timeout = 1800
        max_tries = 3
        on_startup = warm_caches
        on_shutdown = drain_in_flight

``joblane worker --settings backend.src.worker:WorkerSettings`` runs it; a
module with ``tasks = [...]`` (or ``functions = [...]``) will do as well
(``--settings backend.src.worker``; a ``WorkerSettings`` class in the module
is used if there is one).

:func:`load` reads the object, checks every setting (a misspelt or unsupported
one is a :class:`~joblane.errors.SettingsError` naming it and what to use
instead) and registers the listed functions as tasks (:func:`joblane.tasks.register`):
each is allowed in the worker and enqueueable by its short name, with the
settings' ``job_timeout``, ``max_tries`` and ``keep_result`` as defaults
beneath its own ``@job`` options. Listed functions take ``ctx`` first, as
arq's do, unless marked ``@job(takes_context=False)``.

A producer that calls ``joblane.configure(settings=...)`` with the same object
knows the worker's task names, so a misspelt name fails at enqueue rather than
in the worker, and its jobs carry the settings' defaults (a job's options are
fixed when it is enqueued; a producer that does not load the settings stores
the library's defaults with its jobs).
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from joblane.core.job import KEEP_FOREVER
from joblane.core.queues import parse_queue_list
from joblane.core.retry import Retry
from joblane.errors import ConfigurationError, InvalidJobError, SettingsError
from joblane.schedules import Schedule
from joblane.tasks import declared_options, function_name, register, resolve

__all__ = ["DEFAULT_MAX_TRIES", "LoadedSettings", "TaskSpec", "func", "load", "load_object"]

log = logging.getLogger("joblane.settings")

DEFAULT_MAX_TRIES = 5
"""Tries of a listed function when the settings do not say (arq's default)."""
BACKOFF_INTERVAL, BACKOFF_FACTOR, BACKOFF_CAP, BACKOFF_JITTER = 5, 2, 300, 0.1
"""The waits between tries of listed functions: 5 s, 10 s, 20 s... at most
5 minutes, each up to 10% shorter at random (exponential back-off by default,
as arq users expect)."""

HOOKS = ("on_startup", "on_shutdown", "on_job_start", "on_job_end")

UNSUPPORTED: dict[str, str] = {
    "redis_settings": "joblane reads its backend from JOBLANE_URL or `joblane --url`",
    "job_serializer": "joblane stores arguments and results as JSON",
    "job_deserializer": "joblane stores arguments and results as JSON",
    "ctx": "put what jobs share into ctx in on_startup",
    "after_job_end": "use on_job_end, or the worker's --on-success/--on-failure callbacks",
    "allow_abort_jobs": "joblane cancels running jobs always (Job.cancel())",
    "retry_jobs": "set max_tries = 1 for no retries",
    "expires_extra_ms": "give the job a ttl at enqueue",
    "max_burst_jobs": "use `joblane worker --burst`",
    "timezone": "give each cron() its own timezone=",
}
"""arq settings joblane cannot honour as written, with what to do instead."""
IGNORED: dict[str, str] = {
    "poll_delay": "idle workers are woken when a job arrives",
    "queue_read_limit": "a worker claims what its free slots can take",
    "health_check_interval": "use `joblane check`",
    "health_check_key": "use `joblane check`",
    "handle_signals": "the worker always handles SIGTERM and SIGINT",
    "log_results": "job ends are logged at INFO",
    "job_completion_wait": "the worker's --grace sets how long running jobs get at shutdown",
}
"""arq tuning knobs joblane has no use for: accepted, logged once, ignored."""
KNOWN = {
    "functions",
    "tasks",
    "cron_jobs",
    "max_jobs",
    "job_timeout",
    "max_tries",
    "keep_result",
    "keep_result_forever",
    "queue_name",
    "queues",
    "concurrency",
    "burst",
    "allow",
    *HOOKS,
}


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """A function listed with its own name and options (arq's ``func(...)``)."""

    function: Callable[..., Any]
    name: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


def func(
    function: Callable[..., Any],
    *,
    name: str | None = None,
    timeout: float | None = None,
    max_tries: int | None = None,
    keep_result: float | None = None,
    keep_result_forever: bool | None = None,
    **options: Any,
) -> TaskSpec:
    """A task with a name and options of its own, for a settings list:
    arq's ``func(coroutine, name=, timeout=, max_tries=, keep_result=)``, plus any
    ``Queue.enqueue`` option (``retry=``, ``result_ttl=``...) by its joblane name."""
    if timeout is not None:
        options["job_timeout"] = timeout
    if max_tries is not None:
        options["retry"] = _tries("max_tries", max_tries)
    if keep_result_forever:
        options["result_ttl"] = KEEP_FOREVER
    elif keep_result is not None:
        options["result_ttl"] = keep_result
    return TaskSpec(function, name, options)


@dataclass(frozen=True, slots=True)
class LoadedSettings:
    """What a settings object asks of a worker (None / empty: not said)."""

    source: str
    tasks: dict[str, str]
    """Each registered task name, with its function's dotted name."""
    schedules: tuple[Schedule, ...] = ()
    jobs_per_slot: int | None = None
    queues: tuple[str, ...] | None = None
    concurrency: int | None = None
    burst: bool | None = None
    allow: tuple[str, ...] = ()
    hooks: dict[str, Callable[..., Any]] = field(default_factory=dict)

    def worker_options(self) -> dict[str, Any]:
        """The :class:`~joblane.worker.worker.Worker` keyword arguments these settings set."""
        options: dict[str, Any] = dict(self.hooks)
        if self.schedules:
            options["schedules"] = self.schedules
        if self.jobs_per_slot is not None:
            options["jobs_per_slot"] = self.jobs_per_slot
        if self.concurrency is not None:
            options["concurrency"] = self.concurrency
        if self.burst is not None:
            options["burst"] = self.burst
        return options


def load(spec: str) -> LoadedSettings:
    """Import the settings *spec* names and apply them (see the module docstring).

    *spec*: ``package.module:Name``, ``package.module.Name`` (arq's form) or
    ``package.module`` (its ``WorkerSettings`` if it has one, else the module).
    The current directory is importable, as for ``--import``.
    """
    return load_object(_import(spec), source=spec)


def load_object(obj: object, *, source: str | None = None) -> LoadedSettings:
    """Apply the settings held by *obj* (a class, an instance, a module or a dict)."""
    where = source or _describe(obj)
    values = _values(obj, where)
    _check_names(obj, values, where)
    tasks = _register_tasks(values, where)
    hooks: dict[str, Callable[..., Any]] = {}
    for key in HOOKS:
        hook = values.get(key)
        if hook is None:
            continue
        if not callable(hook):
            raise SettingsError(f"{where}: {key} must be a function taking ctx, not {hook!r}")
        hooks[key] = hook

    return LoadedSettings(
        source=where,
        tasks=tasks,
        schedules=_schedules(values, where),
        jobs_per_slot=_count(values, "max_jobs", where),
        queues=_queues(values, where),
        concurrency=_count(values, "concurrency", where),
        burst=_flag(values, "burst", where),
        allow=_strings(values, "allow", where),
        hooks=hooks,
    )


def _check_names(obj: object, values: dict[str, Any], where: str) -> None:
    """Refuse unknown (in a class or dict) and unsupported settings; log ignored ones."""
    unknown = sorted(set(values) - KNOWN - set(UNSUPPORTED) - set(IGNORED))
    if unknown and not isinstance(obj, ModuleType):
        raise SettingsError(
            f"unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} in "
            f"{where} (joblane reads: {', '.join(sorted(KNOWN))})"
        )
    for key in sorted(set(values) & set(UNSUPPORTED)):
        raise SettingsError(f"{where}: {key} is not supported: {UNSUPPORTED[key]}")
    for key in sorted(set(values) & set(IGNORED)):
        log.warning("%s: %s is ignored: %s", where, key, IGNORED[key])


def _register_tasks(values: dict[str, Any], where: str) -> dict[str, str]:
    """Register the listed functions; their names and dotted names."""
    if "functions" in values and "tasks" in values:
        raise SettingsError(f"{where} lists both functions and tasks: keep one list")
    listed = values.get("functions", values.get("tasks", []))
    if not isinstance(listed, list | tuple):
        raise SettingsError(f"{where}: functions must be a list of functions, not {listed!r}")
    defaults = _task_defaults(values, where)
    entries = [entry if isinstance(entry, TaskSpec) else TaskSpec(entry) for entry in listed]
    # A cron job's function runs in this worker too: allowed, taking ctx, as arq's are.
    entries += [TaskSpec(_scheduled(s, where)) for s in _schedules(values, where)]
    tasks: dict[str, str] = {}
    for spec in entries:
        if not callable(spec.function):
            raise SettingsError(f"{where}: {spec.function!r} in functions is not a function")
        try:
            dotted = function_name(spec.function)
            options = {**defaults, **declared_options(dotted), **spec.options}
            name = register(spec.function, name=spec.name, takes_context=True, **options)
        except (InvalidJobError, TypeError) as error:
            raise SettingsError(f"{where}: cannot register {spec.function!r}: {error}") from None
        if tasks.get(name, dotted) != dotted:
            raise SettingsError(f"{where}: two functions are listed as {name!r}")
        tasks[name] = dotted
    return tasks


def _schedules(values: dict[str, Any], where: str) -> tuple[Schedule, ...]:
    schedules = values.get("cron_jobs") or ()
    if not isinstance(schedules, list | tuple):
        raise SettingsError(f"{where}: cron_jobs must be a list of cron(...), not {schedules!r}")
    for schedule in schedules:
        if not isinstance(schedule, Schedule):
            raise SettingsError(f"{where}: {schedule!r} in cron_jobs is not a joblane.cron(...)")
    return tuple(schedules)


def _scheduled(schedule: Schedule, where: str) -> Callable[..., Any]:
    """The function a schedule enqueues (the settings' own code: imported unconfined)."""
    try:
        return resolve(schedule.func_name)
    except Exception as error:
        raise SettingsError(
            f"{where}: cron job {schedule.name!r}: cannot import {schedule.func_name}: "
            f"{type(error).__name__}: {error}"
        ) from None


def _task_defaults(values: dict[str, Any], where: str) -> dict[str, Any]:
    """Options every listed function gets beneath its own."""
    defaults: dict[str, Any] = {}
    try:
        defaults["retry"] = _tries("max_tries", values.get("max_tries", DEFAULT_MAX_TRIES))
        if values.get("job_timeout") is not None:
            timeout = values["job_timeout"]
            if isinstance(timeout, bool) or not isinstance(timeout, int | float):
                raise InvalidJobError(f"job_timeout must be seconds, not {timeout!r}")
            defaults["job_timeout"] = timeout
        if values.get("keep_result_forever"):
            defaults["result_ttl"] = KEEP_FOREVER
        elif values.get("keep_result") is not None:
            defaults["result_ttl"] = values["keep_result"]
    except InvalidJobError as error:
        raise SettingsError(f"{where}: {error}") from None
    return defaults


def _tries(key: str, tries: Any) -> Retry | None:
    if isinstance(tries, bool) or not isinstance(tries, int) or tries < 1:
        raise InvalidJobError(f"{key} must be an int >= 1 (the first try counts), not {tries!r}")
    if tries == 1:
        return None
    return Retry(max=tries - 1, interval=BACKOFF_INTERVAL, factor=BACKOFF_FACTOR,
                 cap=BACKOFF_CAP, jitter=BACKOFF_JITTER)  # fmt: skip


def _count(values: dict[str, Any], key: str, where: str) -> int | None:
    value = values.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SettingsError(f"{where}: {key} must be an int >= 1, not {value!r}")
    return value


def _flag(values: dict[str, Any], key: str, where: str) -> bool | None:
    value = values.get(key)
    if value is not None and not isinstance(value, bool):
        raise SettingsError(f"{where}: {key} must be True or False, not {value!r}")
    return value


def _strings(values: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = values.get(key) or ()
    if isinstance(value, str):
        value = (value,)
    if not all(isinstance(item, str) for item in value):
        raise SettingsError(f"{where}: {key} must be a list of strings, not {value!r}")
    return tuple(value)


def _queues(values: dict[str, Any], where: str) -> tuple[str, ...] | None:
    if "queue_name" in values and "queues" in values:
        raise SettingsError(f"{where} sets both queue_name and queues: keep one")
    raw = values.get("queues", values.get("queue_name"))
    if raw is None:
        return None
    names = [raw] if isinstance(raw, str) else raw
    if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
        raise SettingsError(f"{where}: queues must be a list of queue names, not {raw!r}")
    try:
        return tuple(parse_queue_list(",".join(names)))
    except (ConfigurationError, InvalidJobError, ValueError) as error:
        raise SettingsError(f"{where}: {error}") from None


def _values(obj: object, where: str) -> dict[str, Any]:
    """The public attributes (or items) of *obj*."""
    if isinstance(obj, dict):
        items = obj
    elif isinstance(obj, ModuleType):
        items = {k: v for k, v in vars(obj).items() if k in KNOWN | set(UNSUPPORTED) | set(IGNORED)}
    else:
        names = [n for n in dir(obj) if not n.startswith("_")]
        items = {n: inspect.getattr_static(obj, n) for n in names}
        # A hook given as a plain function in a class body is a function attribute:
        # inspect.getattr_static keeps it unbound (staticmethod unwrapped below).
        items = {n: v.__func__ if isinstance(v, staticmethod | classmethod) else v
                 for n, v in items.items()}  # fmt: skip
    if not all(isinstance(key, str) for key in items):
        raise SettingsError(f"{where}: setting names must be strings")
    return {key: value for key, value in items.items() if not key.startswith("_")}


def _import(spec: str) -> object:
    if not spec or not isinstance(spec, str):
        raise SettingsError(f"settings must be given as 'package.module:Name', not {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    module_name, colon, attr = spec.partition(":")
    if not colon:
        module, attr = _import_dotted(spec)
    else:
        module = _import_module(module_name, spec)
    if not attr:
        found = getattr(module, "WorkerSettings", None)
        return module if found is None else found
    try:
        return getattr(module, attr)
    except AttributeError:
        raise SettingsError(
            f"cannot load settings {spec!r}: {module.__name__} has no {attr!r}"
        ) from None


def _import_dotted(spec: str) -> tuple[ModuleType, str]:
    """``pkg.mod`` (a module) or ``pkg.mod.Name`` (an attribute of one)."""
    try:
        return _import_module(spec, spec, missing_ok=True), ""
    except _Missing:
        module_name, _, attr = spec.rpartition(".")
        if not module_name:
            raise SettingsError(f"cannot load settings {spec!r}: no module {spec!r}") from None
        return _import_module(module_name, spec), attr


class _Missing(Exception):
    pass


def _import_module(name: str, spec: str, *, missing_ok: bool = False) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if missing_ok and error.name == name:
            raise _Missing from None
        raise SettingsError(f"cannot load settings {spec!r}: {error}") from None
    except Exception as error:
        raise SettingsError(
            f"cannot load settings {spec!r}: importing {name} raised "
            f"{type(error).__name__}: {error}"
        ) from None


def _describe(obj: object) -> str:
    if isinstance(obj, ModuleType):
        return obj.__name__
    if inspect.isclass(obj):
        return f"{obj.__module__}:{obj.__qualname__}"
    return f"settings {type(obj).__name__}"
