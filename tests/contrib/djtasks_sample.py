"""Django tasks (``@task`` of Django's tasks framework) for
tests/contrib/test_django_tasks.py; imported once Django is configured."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from django_tasks import task


@task()
def add(a: int, b: int) -> int:
    return a + b


@task(queue_name="emails", priority=10)
def fail_always(message: str) -> None:
    raise ValueError(message)


@task(takes_context=True)
def flaky(context: Any, tag: str) -> dict[str, Any]:
    """Fails its first attempt, returns what its context says on the second."""
    if context.attempt < 2:
        raise KeyError(tag)
    return {"attempt": context.attempt, "id": context.task_result.id}


@task(backend="short")
def sleep_long(seconds: float) -> None:
    time.sleep(seconds)


@task()
async def async_double(value: int) -> int:
    await asyncio.sleep(0)
    return value * 2


@task(priority=-5)
def wait_for_file(path: str) -> str:
    """Runs until *path* exists (the test's RUNNING window)."""
    while not Path(path).exists():
        time.sleep(0.02)
    return Path(path).read_text()


@task()
def record_row(tag: str) -> str:
    """Insert *tag* into ``task_rows`` of Django's default database; return it as read back."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO task_rows (tag) VALUES (%s) RETURNING tag", [tag])
        return str(cursor.fetchone()[0])
