"""The ``@job`` decorator, the registry of allowed functions, and name resolution.

A worker runs only functions it is allowed to:

* those marked with :func:`job` in modules it has imported (``--import``), and
* those under module prefixes the operator lists (``--allow`` /
  ``JOBLANE_ALLOW``).

Any other name fails its job with a ``FunctionNotAllowedError`` reason, and
nothing is imported for it.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from joblane.core.job import JobOptions
from joblane.errors import InvalidFunctionError, InvalidJobError

F = TypeVar("F", bound=Callable[..., Any])

_REGISTRY: dict[str, JobOptions | None] = {}
_NAMES: dict[Callable[..., Any], str] = {}
"""Dotted names already computed (enqueue's hot path)."""


@overload
def job(func: F, /) -> F: ...
@overload
def job(**options: Any) -> Callable[[F], F]: ...
def job(func: Any = None, /, **options: Any) -> Any:
    """Mark a function as a job a worker may run.

    ``@job`` or ``@job(retry=Retry(max=3), job_timeout=60)``:
    the options become the defaults of every enqueue of this function
    (an enqueue's own options win). The function itself is returned unchanged.
    """

    def mark(fn: F) -> F:
        name = function_name(fn)
        if "job_id" in options:
            raise InvalidJobError(f"@job({name}) cannot fix a job_id: each enqueue has its own")
        defaults = JobOptions(**options) if options else None
        _REGISTRY[name] = defaults
        return fn

    return mark(func) if func is not None else mark


def registered() -> frozenset[str]:
    """Names of every function marked with ``@job`` in this process."""
    return frozenset(_REGISTRY)


def function_name(func: Callable[..., Any] | str, *, allow_main: bool = False) -> str:
    """The dotted path a worker imports *func* by.

    Raises InvalidFunctionError for what a worker could not import: lambdas,
    nested functions, bound methods, and (unless *allow_main*) functions of
    ``__main__``.
    """
    if isinstance(func, str):
        name = func
        if not name or "." not in name or any(not part.isidentifier() for part in name.split(".")):
            raise InvalidFunctionError(
                f"invalid function name {name[:100]!r}: expected a dotted path "
                "such as 'package.module.function'"
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


def resolve(name: str) -> Callable[..., Any]:
    """Import the function *name* (``package.module.func`` or ``module.Class.func``)."""
    parts = name.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        try:
            target: Any = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            missing = error.name or ""
            if missing == module_name or module_name.startswith(missing + "."):
                continue  # this prefix is not a module; try a shorter one
            raise
        for attribute in parts[split:]:
            target = getattr(target, attribute)
        if not callable(target):
            raise TypeError(f"{name} is not callable")
        return target  # type: ignore[no-any-return]
    raise ImportError(f"no module found for {name!r}")


def defaults_for(name: str) -> JobOptions | None:
    """The ``@job`` options registered for *name*, if any."""
    return _REGISTRY.get(name)


@dataclass(frozen=True, slots=True)
class AllowPolicy:
    """Which function names a worker may run (see the module docstring)."""

    prefixes: tuple[str, ...] = ()
    extra: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_prefixes(cls, prefixes: Iterable[str]) -> AllowPolicy:
        cleaned = tuple(p.strip().rstrip(".") for p in prefixes if p.strip())
        return cls(prefixes=cleaned)

    def permits(self, name: str) -> bool:
        if name in _REGISTRY or name in self.extra:
            return True
        return any(name == p or name.startswith(p + ".") for p in self.prefixes)

    def describe(self) -> str:
        parts = [f"{len(_REGISTRY)} @job functions"]
        if self.prefixes:
            parts.append("prefixes " + ", ".join(self.prefixes))
        return "; ".join(parts)
