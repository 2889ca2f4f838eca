"""The ``@job`` decorator, the registry of allowed functions, and name resolution.

A worker runs only functions it is allowed to:

* those marked with :func:`job` in modules it has imported (``--import``), and
* those under module prefixes the operator lists (``--allow`` /
  ``JOBLANE_ALLOW``).

Any other name fails its job with a ``FunctionNotAllowedError`` reason, and
nothing is imported for it.

Task names
----------
A function may also be *registered* under a short name without dots (arq's
style: ``enqueue("send_invoice_email", ...)``), by :func:`register` or by the
``functions`` / ``tasks`` list of a worker's settings (:mod:`joblane.settings`).
A job stores the short name as given; each process maps it to its function
through its own registry, so the producer and the worker may import the module
under different paths. A producer that has registered task names refuses an
unknown one at enqueue; one that has none cannot know the worker's and stores
it, and the worker fails the job with an ``UnknownTaskError`` reason naming the
tasks it has. A short name that is no registered task but the name of exactly
one ``@job`` function of the process stands for that function's dotted path.

A prefix is checked twice. Before any import, the name must start with it
(``myapp.tasks`` allows ``myapp.tasks.send``, not ``myapp.tasksx.send``).
After the import, what the name resolves to must belong to the module that
was imported: every attribute taken from it on the way (``Class`` in
``myapp.tasks.Class.send``) and the function itself must be defined in that
module (their ``__module__``), and none may be a module; the walk stops at
the first step that is not, before taking anything from it. So a name cannot
walk out of an allowed module into one it imports (``myapp.tasks.os.system``,
``myapp.tasks.joblane.config.os.system``) or reach a function it only took
from elsewhere (``from os import system``, then ``myapp.tasks.system``).
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, TypeVar, overload

from joblane.core.job import JobOptions
from joblane.errors import InvalidFunctionError, InvalidJobError

F = TypeVar("F", bound=Callable[..., Any])

_REGISTRY: dict[str, JobOptions | None] = {}
_GIVEN: dict[str, dict[str, Any]] = {}
"""The options each function was given by ``@job`` or :func:`register`."""
_TASKS: dict[str, Callable[..., Any]] = {}
"""Task names (no dot) registered in this process, each to its function."""
_CONTEXT: set[str] = set()
"""Functions registered with ``takes_context=True``: called as ``f(ctx, ...)``."""
_NAMES: dict[Callable[..., Any], str] = {}
_FORWARDS: set[str] = set()
"""Functions registered with ``forwards_identity=True``: they pass their job's
enqueuer on themselves (``joblane.http.send`` signs it into a request), so a
worker runs them without restoring the identity first."""
"""Dotted names already computed (enqueue's hot path)."""


@dataclass(frozen=True, slots=True)
class JobHooks:
    """A ``@job`` function's callbacks, each ``(job, outcome)`` or None."""

    on_success: Callable[..., Any] | None = None
    on_failure: Callable[..., Any] | None = None


_NO_HOOKS = JobHooks()
_HOOKS: dict[str, JobHooks] = {}


def hooks_for(name: str) -> JobHooks:
    """The callbacks ``@job`` registered for *name* in this process (none: empty)."""
    return _HOOKS.get(name if "." in name else canonical(name), _NO_HOOKS)


@overload
def job(func: F, /) -> F: ...
@overload
def job(**options: Any) -> Callable[[F], F]: ...
def job(func: Any = None, /, **options: Any) -> Any:
    """Mark a function as a job a worker may run.

    ``@job`` or ``@job(retry=Retry(max=3), job_timeout=60)``:
    the options become the defaults of every enqueue of this function
    (an enqueue's own options win). ``on_success`` and ``on_failure`` are
    callbacks ``(job, outcome)`` the worker calls when an attempt of this
    function ends (:mod:`joblane.worker.hooks`); they are not stored with the
    job, so the worker must import the function's module. ``takes_context=True``
    (the name Django's tasks framework uses) calls the function with the job's
    context dict first, arq's ``f(ctx, ...)`` (see :func:`register`). The
    function itself is returned unchanged.

    ``forwards_identity=True`` marks a function that hands its job's enqueuer
    (``current_job().enqueued_by``) on itself, as :func:`joblane.http.send`
    does in a signed request: a worker runs it without its identity hook.
    """
    takes_context = options.pop("takes_context", False)
    forwards = options.pop("forwards_identity", False)
    if not isinstance(forwards, bool):
        raise InvalidJobError(
            f"@job(forwards_identity=...) must be True or False, not {forwards!r}"
        )
    hooks = JobHooks(options.pop("on_success", None), options.pop("on_failure", None))
    for which, callback in (("on_success", hooks.on_success), ("on_failure", hooks.on_failure)):
        if callback is not None and not callable(callback):
            raise InvalidJobError(f"@job({which}=...) must be a callable, not {callback!r}")

    def mark(fn: F) -> F:
        name = _register(fn, takes_context, hooks, options)
        if forwards:
            _FORWARDS.add(name)
        else:
            _FORWARDS.discard(name)
        return fn

    return mark(func) if func is not None else mark


def _register(
    fn: Callable[..., Any], takes_context: object, hooks: JobHooks | None,
    options: dict[str, Any] | None,
) -> str:  # fmt: skip
    """Record what is given for *fn* (None: keep what was recorded); its dotted name."""
    name = function_name(fn)
    if takes_context is not None and not isinstance(takes_context, bool):
        raise InvalidJobError(f"@job({name}): takes_context must be True or False, "
                              f"not {takes_context!r}")  # fmt: skip
    if options is not None:
        if "job_id" in options:
            raise InvalidJobError(f"@job({name}) cannot fix a job_id: each enqueue has its own")
        _REGISTRY[name] = JobOptions(**options) if options else None
        _GIVEN[name] = dict(options)
    else:
        _REGISTRY.setdefault(name, None)
    if hooks is not None:
        if hooks != _NO_HOOKS:
            _HOOKS[name] = hooks
        else:
            _HOOKS.pop(name, None)
    if takes_context is True:
        _CONTEXT.add(name)
    elif takes_context is False:
        _CONTEXT.discard(name)
    return name


def takes_context(name: str) -> bool:
    """Whether the function *name* (or the task so named) was registered in this
    process to take ``ctx`` first."""
    return name in _CONTEXT or ("." not in name and canonical(name) in _CONTEXT)


def forwards_identity(name: str) -> bool:
    """Whether the function *name* was marked ``@job(forwards_identity=True)``
    in this process: it passes its enqueuer on itself, needing no restore."""
    return name in _FORWARDS or ("." not in name and canonical(name) in _FORWARDS)


def registered() -> frozenset[str]:
    """Names of every function marked with ``@job`` in this process."""
    return frozenset(_REGISTRY)


def register(
    func: Callable[..., Any], /, *, name: str | None = None,
    takes_context: bool | None = None, **options: Any,
) -> str:  # fmt: skip
    """Register *func* as a task, as :func:`job` does without decorating it (a
    function listed in worker settings, one defined in a library): allowed in
    workers of this process, and enqueueable by the short *name* (default: its
    ``__name__``). Returns the name.

    *takes_context*: the function is called as ``func(ctx, *args, **kwargs)``,
    *ctx* a dict with the job's ``job_id``, ``job_try`` (the attempt, from 1),
    ``enqueue_time`` (an aware datetime) and ``queue``, over what the worker's
    ``on_startup`` put in its slot's context (see docs/how-to/async-jobs.md).
    *options* are job options (``job_timeout``, ``retry``...) and the
    ``on_success`` / ``on_failure`` callbacks. What is not given here (options,
    callbacks, *takes_context*) stays as an earlier ``@job`` or registration
    declared it. Like every ``@job`` option it holds in this process only.
    A name taken by another function is refused (InvalidJobError).
    """
    dotted = function_name(func)
    short = getattr(func, "__name__", "") if name is None else name
    if not isinstance(short, str) or not short.isidentifier():
        raise InvalidFunctionError(
            f"task name {short!r} for {dotted} must be an identifier (letters, digits, _)"
        )
    taken = _TASKS.get(short)
    if taken is not None and taken is not func and function_name(taken) != dotted:
        raise InvalidJobError(
            f"task name {short!r} is already registered for {function_name(taken)}; "
            f"register {dotted} under another name"
        )
    given = {key: options.pop(key) for key in ("on_success", "on_failure") if key in options}
    for which, callback in given.items():
        if callback is not None and not callable(callback):
            raise InvalidJobError(f"register({which}=...) must be a callable, not {callback!r}")
    hooks = None
    if given:
        before = hooks_for(dotted)
        hooks = JobHooks(given.get("on_success", before.on_success),
                         given.get("on_failure", before.on_failure))  # fmt: skip
    _register(func, takes_context, hooks, options or None)
    _TASKS[short] = func
    return short


def declared_options(name: str) -> dict[str, Any]:
    """The job options ``@job`` or :func:`register` gave the function *name*."""
    return dict(_GIVEN.get(name, {}))


def unregister(name: str) -> None:
    """Forget the task name *name* (its function stays allowed); for tests and reloads."""
    _TASKS.pop(name, None)


def task_names() -> dict[str, str]:
    """Every task name registered in this process, with its function's dotted name."""
    return {short: function_name(func) for short, func in sorted(_TASKS.items())}


def is_short(name: str) -> bool:
    """*name* has no dot: a task name, or the short name of a ``@job`` function."""
    return "." not in name


def canonical(name: str) -> str:
    """The dotted name *name* stands for in this process: a task name's
    function, a short ``@job`` name's function, else *name* itself."""
    if "." in name:
        return name
    func = _TASKS.get(name)
    if func is not None:
        return function_name(func)
    found = _short_job_names(name)
    return found[0] if len(found) == 1 else name


def _short_job_names(short: str) -> list[str]:
    suffix = "." + short
    return sorted(n for n in _REGISTRY if n.endswith(suffix))


def _producer_name(name: str) -> str:
    """What an enqueue of the short *name* stores (see the module docstring)."""
    if name in _TASKS:
        return name
    found = _short_job_names(name)
    if len(found) == 1:
        return found[0]
    if found:
        raise InvalidFunctionError(
            f"{name!r} names several @job functions ({', '.join(found)}): give the dotted path"
        )
    if _TASKS:
        raise InvalidFunctionError(
            f"no task named {name!r} in this process (its tasks: {_list_tasks()}); "
            "check the spelling, or give the dotted path such as 'package.module.function'"
        )
    return name  # no registry here: the worker's decides (UnknownTaskError if it lacks it)


def _list_tasks(limit: int = 20) -> str:
    names = sorted(_TASKS)
    if not names:
        return "none"
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def function_name(func: Callable[..., Any] | str, *, allow_main: bool = False) -> str:
    """The dotted path a worker imports *func* by.

    Raises InvalidFunctionError for what a worker could not import: lambdas,
    nested functions, bound methods, and (unless *allow_main*) functions of
    ``__main__``.
    """
    if isinstance(func, str):
        name = func
        if name.isidentifier():
            return _producer_name(name)
        if not name or "." not in name or any(not part.isidentifier() for part in name.split(".")):
            raise InvalidFunctionError(
                f"invalid function name {name[:100]!r}: expected a dotted path "
                "such as 'package.module.function', or a task name"
            )
        return name
    cached = _NAMES.get(func)
    if cached is not None and (allow_main or not cached.startswith("__main__.")):
        return cached
    if inspect.ismethod(func):
        raise InvalidFunctionError(
            f"{func!r} is a bound method; enqueue a module-level function instead"
        )
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None)
    if not callable(func) or not module or not qualname:
        raise InvalidFunctionError(f"{func!r} is not a function with an importable name")
    if "<lambda>" in qualname or "<locals>" in qualname:
        raise InvalidFunctionError(
            f"{module}.{qualname} cannot be imported by a worker; define it at module level"
        )
    if module == "__main__" and not allow_main:
        raise InvalidFunctionError(
            f"__main__.{qualname} cannot be imported by a worker process; "
            "move it to an importable module"
        )
    name = f"{module}.{qualname}"
    with contextlib.suppress(TypeError):  # an unhashable callable is just not cached
        _NAMES[func] = name
    return name


class FunctionNotAllowed(Exception):
    """Why a worker's :class:`AllowPolicy` refuses a function name: the job
    fails with this message as its ``FunctionNotAllowedError`` reason."""


class UnknownTask(FunctionNotAllowed):
    """A short name this process has no task (nor ``@job`` function) for: the
    job fails with this message as its ``UnknownTaskError`` reason."""


def _unknown(name: str) -> UnknownTask:
    found = _short_job_names(name)
    if len(found) > 1:
        return UnknownTask(
            f"{name!r} names several @job functions in this worker ({', '.join(found)}); "
            "enqueue the dotted path"
        )
    return UnknownTask(
        f"no task named {name!r} in this worker (its tasks: {_list_tasks()}); list the "
        "function in the worker's settings (--settings) or register it, or enqueue its "
        "dotted path"
    )


def resolve(name: str, allow: AllowPolicy | None = None) -> Callable[..., Any]:
    """Import the function *name* (``package.module.func`` or ``module.Class.func``).

    With *allow*, raise FunctionNotAllowed for a name the policy refuses:
    before importing anything if the name alone rules it out, else as soon as
    the walk leaves the imported module (see the module docstring).
    """
    if "." not in name:
        dotted = canonical(name)
        if dotted == name:
            raise _unknown(name)
        name = dotted
    if allow is not None:
        allow.check_name(name)
    confined = allow is not None and not allow.trusts(name)
    module_name, target = _locate(name, confined=confined)
    if not callable(target):
        raise TypeError(f"{name} is not callable")
    if confined:
        _refuse_foreign(name, module_name, name, target)
    return target  # type: ignore[no-any-return]


def resolve_allowed(name: str, allow: AllowPolicy) -> Callable[..., Any]:
    """:func:`resolve` under *allow*, once per name: a slot runs the same few
    functions job after job, and the import walk is most of what a job costs
    before its first line."""
    found = allow._resolved.get(name)
    if found is None:
        found = allow._resolved[name] = resolve(name, allow)
    return found


def _locate(name: str, *, confined: bool) -> tuple[str, Any]:
    """Import the longest prefix of *name* that is a module and take the rest
    as attributes: (module name, object).

    *confined*: raise FunctionNotAllowed rather than take an attribute of
    anything not defined in that module, or stop on a module.
    """
    parts = name.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            missing = error.name or ""
            if missing == module_name or module_name.startswith(missing + "."):
                continue  # this prefix is not a module; try a shorter one
            raise
        if confined and getattr(module, "__name__", None) != module_name:
            raise FunctionNotAllowed(
                f"{name!r} is not allowed in this worker: importing {module_name} gave "
                f"{_describe(module)}; {_ALLOW_RULE}"
            )
        target: Any = module
        for index in range(split, len(parts)):
            if confined and index > split:  # checked before anything is taken from it
                _refuse_foreign(name, module_name, ".".join(parts[:index]), target)
            target = getattr(target, parts[index])
            if confined and isinstance(target, ModuleType):
                raise FunctionNotAllowed(
                    f"{name!r} is not allowed in this worker: {'.'.join(parts[: index + 1])} "
                    f"is the module {target.__name__}, not part of {module_name}; {_ALLOW_RULE}"
                )
        return module_name, target
    raise ImportError(f"no module found for {name!r}")


_ALLOW_RULE = "--allow runs only functions defined in the modules under its prefixes"


def _refuse_foreign(name: str, module_name: str, path: str, value: Any) -> None:
    """Refuse *value* (reached by *path*) unless it was defined in *module_name*."""
    if getattr(value, "__module__", None) != module_name:
        what = "it" if path == name else path
        raise FunctionNotAllowed(
            f"{name!r} is not allowed in this worker: {what} is {_describe(value)}, "
            f"defined outside {module_name}; {_ALLOW_RULE}"
        )


def _describe(value: Any) -> str:
    """*value*'s own dotted name if it has one, else its type (never its repr)."""
    if isinstance(value, ModuleType):
        return f"the module {value.__name__}"
    if inspect.isclass(value) or inspect.isroutine(value):
        module = getattr(value, "__module__", None)
        qualname = getattr(value, "__qualname__", None)
        if isinstance(module, str) and isinstance(qualname, str):
            return f"{module}.{qualname}"
    kind = type(value)
    return f"a {kind.__module__}.{kind.__qualname__} object"


def defaults_for(name: str) -> JobOptions | None:
    """The ``@job`` (or :func:`register`) options of *name*, if any."""
    if name in _REGISTRY or "." in name:
        return _REGISTRY.get(name)
    return _REGISTRY.get(canonical(name))


@dataclass(frozen=True, slots=True)
class AllowPolicy:
    """Which function names a worker may run (see the module docstring)."""

    prefixes: tuple[str, ...] = ()
    extra: frozenset[str] = field(default_factory=frozenset)
    _dotted: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _resolved: dict[str, Callable[..., Any]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )
    """What :func:`resolve_allowed` found under this policy (a name it allowed
    stays allowed: the policy is frozen, and @job names are only ever added)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_dotted", tuple(p + "." for p in self.prefixes))

    @classmethod
    def from_prefixes(cls, prefixes: Iterable[str]) -> AllowPolicy:
        cleaned = tuple(p.strip().rstrip(".") for p in prefixes if p.strip())
        return cls(prefixes=cleaned)

    def trusts(self, name: str) -> bool:
        """*name* is a ``@job`` function or one of *extra*: allowed as named."""
        return name in _REGISTRY or name in self.extra

    def permits(self, name: str) -> bool:
        """The name alone does not rule *name* out (checked before any import)."""
        return self.trusts(name) or name in self.prefixes or name.startswith(self._dotted)

    def check_name(self, name: str) -> None:
        """Raise FunctionNotAllowed if :meth:`permits` refuses *name* (UnknownTask
        for a short name this process has no function for)."""
        if "." not in name:
            dotted = canonical(name)
            if dotted == name:
                raise _unknown(name)
            name = dotted
        if not self.permits(name):
            raise FunctionNotAllowed(
                f"{name!r} is not allowed in this worker (allowed: {self.describe()}); "
                "mark it with @joblane.job and --import its module, or --allow its "
                "module prefix"
            )

    def describe(self) -> str:
        parts = [f"{len(_REGISTRY)} @job functions"]
        if self.prefixes:
            parts.append("prefixes " + ", ".join(self.prefixes))
        if _TASKS:
            parts.append(f"tasks {_list_tasks()}")
        return "; ".join(parts)
