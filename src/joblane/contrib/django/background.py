"""Seed 002's (Wagtail RFC 72's) API, as written: a ``background`` object and
backends with ``enqueue`` / ``defer`` / ``aenqueue`` / ``adefer``.

::

    from joblane.contrib.django.background import background

    background.enqueue(do_a_task, args=[], kwargs={})
    background.defer(do_a_task, args=[], kwargs={}, when=now + timedelta(minutes=5))
    await background.aenqueue(do_a_task, args=[], kwargs={})

Settings (the default shown)::

    JOBLANE_BACKGROUND = {
        "BACKEND": "joblane.contrib.django.background.ImmediateBackend",
        "OPTIONS": {},          # passed to the backend's constructor
        "SCHEDULE": False,      # True: this site defers tasks; the backend must schedule
    }

``JobBackend`` (``"joblane.contrib.django.background.JobBackend"``, OPTIONS
``URL``, ``QUEUE``) puts each call on a joblane queue through the same
:class:`~joblane.client.Queue` as any enqueue; run it with ``joblane worker``
(the function must be allowed there: ``@job`` or ``--allow``).
``ImmediateBackend`` runs the call inline and has no ``defer``: a backend that
cannot schedule lacks the method, and the system check ``joblane.E010``
refuses ``SCHEDULE: True`` with it at start-up. Like the RFC's first
iteration, ``enqueue`` returns nothing.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from joblane.client import Queue
from joblane.core.queues import DEFAULT_QUEUE

Func = Callable[..., Any]
Args = Sequence[Any]
Kwargs = Mapping[str, Any]

DEFAULT_BACKEND = "joblane.contrib.django.background.ImmediateBackend"


class BaseJobBackend:
    """The RFC's base class: a backend defines ``enqueue`` and ``aenqueue``,
    and ``defer`` / ``adefer`` only if it can schedule."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.options = dict(options)

    def enqueue(self, func: Func, args: Args, kwargs: Kwargs) -> None:
        raise NotImplementedError

    async def aenqueue(self, func: Func, args: Args, kwargs: Kwargs) -> None:
        await sync_to_async(self.enqueue, thread_sensitive=True)(func, args, kwargs)

    @classmethod
    def can_schedule(cls) -> bool:
        return callable(getattr(cls, "defer", None))


class ImmediateBackend(BaseJobBackend):
    """Runs each call inline (the RFC's default: Wagtail as it was). No ``defer``."""

    def enqueue(self, func: Func, args: Args, kwargs: Kwargs) -> None:
        value = func(*args, **kwargs)
        if inspect.isawaitable(value):
            raise ImproperlyConfigured(
                f"{func.__qualname__} is a coroutine function: use background.aenqueue"
            )

    async def aenqueue(self, func: Func, args: Args, kwargs: Kwargs) -> None:
        value = func(*args, **kwargs)
        if inspect.isawaitable(value):
            await value


class JobBackend(BaseJobBackend):
    """Each call a joblane job on ``OPTIONS["QUEUE"]`` (default ``normal``) at
    ``OPTIONS["URL"]`` (default ``JOBLANE_URL``)."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        super().__init__(options)
        self.queue = Queue(self.options.get("QUEUE", DEFAULT_QUEUE), url=self.options.get("URL"))

    def enqueue(self, func: Func, args: Args, kwargs: Kwargs) -> None:
        self.queue.enqueue_call(func, list(args), dict(kwargs))

    def defer(
        self,
        func: Callable[..., Any],
        when: datetime,
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
    ) -> None:
        self.queue.enqueue_call(func, list(args), dict(kwargs), at=when)

    async def aenqueue(self, func: Func, args: Args, kwargs: Kwargs) -> None:
        await self.queue.aenqueue_call(func, list(args), dict(kwargs))

    async def adefer(
        self,
        func: Callable[..., Any],
        when: datetime,
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
    ) -> None:
        await self.queue.aenqueue_call(func, list(args), dict(kwargs), at=when)


def configured() -> dict[str, Any]:
    """``settings.JOBLANE_BACKGROUND`` over the defaults (checked)."""
    given = getattr(settings, "JOBLANE_BACKGROUND", {}) or {}
    if not isinstance(given, Mapping):
        raise ImproperlyConfigured("JOBLANE_BACKGROUND must be a dict")
    unknown = sorted(set(given) - {"BACKEND", "OPTIONS", "SCHEDULE"})
    if unknown:
        raise ImproperlyConfigured(f"JOBLANE_BACKGROUND has unknown keys {unknown}")
    return {"BACKEND": DEFAULT_BACKEND, "OPTIONS": {}, "SCHEDULE": False, **given}


def backend_class(path: str) -> type[BaseJobBackend]:
    try:
        found = import_string(path)
    except ImportError as error:
        raise ImproperlyConfigured(f"JOBLANE_BACKGROUND['BACKEND'] {path!r}: {error}") from error
    if not (isinstance(found, type) and issubclass(found, BaseJobBackend)):
        raise ImproperlyConfigured(f"JOBLANE_BACKGROUND['BACKEND'] {path!r} is no BaseJobBackend")
    return found


class Background:
    """The ``background`` object: the configured backend, made at first use."""

    def __init__(self) -> None:
        self._backend: BaseJobBackend | None = None

    @property
    def backend(self) -> BaseJobBackend:
        if self._backend is None:
            config = configured()
            cls = backend_class(config["BACKEND"])
            if config["SCHEDULE"] and not cls.can_schedule():
                raise ImproperlyConfigured(schedule_refusal(config["BACKEND"]))
            self._backend = cls(config["OPTIONS"])
        return self._backend

    def reset(self) -> None:
        """Forget the backend (the settings changed)."""
        self._backend = None

    def enqueue(self, func: Func, args: Args = (),
                kwargs: Kwargs | None = None) -> None:  # fmt: skip
        """Run ``func(*args, **kwargs)`` in the background (inline with the
        immediate backend)."""
        self.backend.enqueue(func, list(args), dict(kwargs or {}))

    def defer(self, func: Func, args: Args = (),
              kwargs: Kwargs | None = None, *, when: datetime) -> None:  # fmt: skip
        """Run the call at *when*; ImproperlyConfigured if the backend cannot schedule."""
        self._scheduler().defer(func, when, list(args), dict(kwargs or {}))  # type: ignore[attr-defined]

    async def aenqueue(self, func: Func, args: Args = (),
                       kwargs: Kwargs | None = None) -> None:  # fmt: skip
        await self.backend.aenqueue(func, list(args), dict(kwargs or {}))

    async def adefer(self, func: Func, args: Args = (),
                     kwargs: Kwargs | None = None, *, when: datetime) -> None:  # fmt: skip
        await self._scheduler().adefer(func, when, list(args), dict(kwargs or {}))  # type: ignore[attr-defined]

    def _scheduler(self) -> BaseJobBackend:
        backend = self.backend
        if not backend.can_schedule():
            raise ImproperlyConfigured(f"{type(backend).__qualname__} cannot schedule (no defer)")
        return backend


def schedule_refusal(path: str) -> str:
    return f"JOBLANE_BACKGROUND asks for SCHEDULE but {path} cannot schedule (it has no defer)"


background = Background()


def check_background(app_configs: Any = None, **kwargs: Any) -> Iterable[checks.CheckMessage]:
    """The RFC's check: ``SCHEDULE`` set, the backend must schedule."""
    try:
        config = configured()
        cls = backend_class(config["BACKEND"])
    except ImproperlyConfigured as error:
        return [checks.Error(str(error), id="joblane.E011")]
    if config["SCHEDULE"] and not cls.can_schedule():
        return [checks.Error(schedule_refusal(config["BACKEND"]), id="joblane.E010")]
    return []
