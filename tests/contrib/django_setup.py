"""Django configured once per test process, for every module of tests/contrib that
needs it (settings.configure can run only once): two SQLite aliases, auth and
contenttypes (migrated), and joblane's Django app; where PostgreSQL is installed,
a third alias, ``pg``, on a database of its own on the session's throwaway server
(tests/servers.py)."""

from __future__ import annotations

from pathlib import Path

import django
from django.conf import settings
from django.core.management import call_command

from tests.servers import postgres_bin_dir, postgres_database

PG = "pg"  # the PostgreSQL alias, when there is one


def tasks_setting(directory: Path, pg: bool = False) -> dict[str, dict[str, object]]:
    """``TASKS`` for tests/contrib/test_django_tasks.py: joblane backends on one
    SQLite job store in *directory* (so one worker runs the tasks of all); with
    *pg*, one that enqueues on the commit of the PostgreSQL alias."""
    url = f"sqlite:///{directory / 'tasks.db'}"
    backend = "joblane.contrib.django.JoblaneBackend"
    queues = ["default", "emails"]
    extra: dict[str, dict[str, object]] = {}
    if pg:
        options = {"URL": url, "ENQUEUE_ON_COMMIT": True, "DATABASE": PG}
        extra["oncommit_pg"] = {"BACKEND": backend, "QUEUES": queues, "OPTIONS": options}
    return extra | {
        "default": {"BACKEND": backend, "QUEUES": queues,
                    "OPTIONS": {"URL": url, "RETRY": {"max": 1}}},
        "short": {"BACKEND": backend, "QUEUES": queues,
                  "OPTIONS": {"URL": url, "JOB_TIMEOUT": 1}},
        "oncommit": {"BACKEND": backend, "QUEUES": queues,
                     "OPTIONS": {"URL": url, "ENQUEUE_ON_COMMIT": True}},
    }  # fmt: skip


def configure(directory: Path) -> None:
    """Configure and set up Django with its databases in *directory*, unless done."""
    if settings.configured:
        return
    sqlite = "django.db.backends.sqlite3"
    databases: dict[str, dict[str, str]] = {
        "default": {"ENGINE": sqlite, "NAME": str(directory / "app.db")},
        "other": {"ENGINE": sqlite, "NAME": str(directory / "other.db")},
    }
    if postgres_bin_dir() is not None:
        server, name = postgres_database()
        databases[PG] = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": "postgres",
            "HOST": "127.0.0.1",
            "PORT": str(server.port),
        }
    settings.configure(
        DATABASES=databases,
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django_tasks",
            "joblane.contrib.django",
        ],
        TASKS=tasks_setting(directory, pg=PG in databases),
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        USE_TZ=True,
    )
    django.setup()
    call_command("migrate", verbosity=0)
