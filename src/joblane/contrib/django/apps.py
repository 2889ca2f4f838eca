"""``INSTALLED_APPS = [..., "joblane.contrib.django"]`` installs the adapter at
start-up, adds the ``joblane_worker`` and ``joblane_info`` commands and the
system check of ``JOBLANE_BACKGROUND`` (seed 002's settings)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.apps import AppConfig

if TYPE_CHECKING:
    from joblane.contrib.django.adapter import DjangoJobs


class JoblaneConfig(AppConfig):
    name = "joblane.contrib.django"
    label = "joblane"
    verbose_name = "joblane"
    adapter: DjangoJobs | None = None

    def ready(self) -> None:
        from django.conf import settings
        from django.core import checks

        from joblane.contrib.django.adapter import install
        from joblane.contrib.django.background import check_background

        checks.register(check_background)
        try:
            from joblane.contrib.django.backend import check_backends
        except ImportError:
            pass  # neither django.tasks nor the django-tasks backport: no TASKS to check
        else:
            checks.register(check_backends)
        self.adapter = install(
            using=getattr(settings, "JOBLANE_DATABASE", "default"),
            robust=getattr(settings, "JOBLANE_ON_COMMIT_ROBUST", True),
        )
