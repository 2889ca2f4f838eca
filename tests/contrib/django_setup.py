"""Django configured once per test process, for every module of tests/contrib that
needs it (settings.configure can run only once): two SQLite aliases, auth and
contenttypes (migrated), and joblane's Django app."""

from __future__ import annotations

from pathlib import Path

import django
from django.conf import settings
from django.core.management import call_command


def configure(directory: Path) -> None:
    """Configure and set up Django with its databases in *directory*, unless done."""
    if settings.configured:
        return
    sqlite = "django.db.backends.sqlite3"
    settings.configure(
        DATABASES={
            "default": {"ENGINE": sqlite, "NAME": str(directory / "app.db")},
            "other": {"ENGINE": sqlite, "NAME": str(directory / "other.db")},
        },
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "joblane.contrib.django",
        ],
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        USE_TZ=True,
    )
    django.setup()
    call_command("migrate", verbosity=0)
