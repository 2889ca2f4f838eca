"""``manage.py joblane_info``: each joblane backend of ``TASKS``, its joblane
queues (Django queue and tier) and how many tasks wait in each."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from joblane.config import redact_url
from joblane.contrib.django.backend import TIERS, JoblaneBackend
from joblane.contrib.django.compat import SOURCE, task_backends
from joblane.core.states import Registry


class Command(BaseCommand):
    help = "Show the joblane backends of TASKS: URL, queues per tier, waiting and failed tasks."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"tasks framework: {SOURCE}")
        aliases = list(getattr(settings, "TASKS", {}) or {})
        found = False
        for alias in aliases:
            backend = task_backends[alias]
            if not isinstance(backend, JoblaneBackend):
                self.stdout.write(f"{alias}: {type(backend).__qualname__} (not joblane)")
                continue
            found = True
            self.show(backend)
        if not found:
            self.stdout.write("no TASKS backend uses joblane.contrib.django.JoblaneBackend")

    def show(self, backend: JoblaneBackend) -> None:
        store = backend.joblane_backend
        self.stdout.write(f"{backend.alias}: {redact_url(backend.url)}")
        options = ", ".join(f"{k}={v!r}" for k, v in sorted(backend.job_options.items()))
        self.stdout.write(f"  job options: {options or 'joblane defaults'}")
        for name in backend.queue_order:
            for tier in TIERS:
                queue = f"{name}.{tier}"
                waiting = store.count(queue)
                failed = store.registry_count(queue, Registry.FAILED)
                self.stdout.write(
                    f"  {name!r} {tier:<9} -> {queue}: {waiting} waiting, {failed} failed"
                )
