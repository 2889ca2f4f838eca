"""Django's tasks framework, from wherever this process has it: ``django.tasks``
(Django 6.0 and later) or the ``django-tasks`` backport (``django_tasks``, for
Django 4.2-5.2). Every other module of joblane.contrib.django imports these
names from here, and from nowhere else.

Where both are importable, Django's own wins: a site on Django 6 that still
has the backport installed (a dependency's pin) runs on ``django.tasks``.
The few names that differ (``InvalidTask`` was ``InvalidTaskError``,
``InvalidTaskBackend`` was ``InvalidTaskBackendError``) get one name here.
"""

from __future__ import annotations

from typing import Any

SOURCE: str
"""``"django.tasks"`` or ``"django_tasks"``: where the names below come from."""

try:  # Django 6.0+
    from django.tasks import (
        DEFAULT_TASK_QUEUE_NAME,
        Task,
        TaskContext,
        TaskResult,
        TaskResultStatus,
        task_backends,
    )
    from django.tasks.backends.base import BaseTaskBackend
    from django.tasks.base import TASK_MAX_PRIORITY, TASK_MIN_PRIORITY, TaskError
    from django.tasks.exceptions import InvalidTask as InvalidTaskError
    from django.tasks.exceptions import InvalidTaskBackend as InvalidTaskBackendError
    from django.tasks.exceptions import TaskResultDoesNotExist
    from django.tasks.signals import task_enqueued, task_finished, task_started

    SOURCE = "django.tasks"
except ImportError:  # the backport
    from django_tasks import (
        DEFAULT_TASK_QUEUE_NAME,
        TaskContext,
        TaskResult,
        TaskResultStatus,
        task_backends,
    )
    from django_tasks.backends.base import BaseTaskBackend
    from django_tasks.base import TASK_MAX_PRIORITY, TASK_MIN_PRIORITY, Task, TaskError
    from django_tasks.exceptions import (
        InvalidTaskBackendError,
        InvalidTaskError,
        TaskResultDoesNotExist,
    )
    from django_tasks.signals import task_enqueued, task_finished, task_started

    SOURCE = "django_tasks"

BaseBackend: Any = BaseTaskBackend
"""The framework's backend base class, typed Any (neither ships types mypy reads here)."""

__all__ = [
    "DEFAULT_TASK_QUEUE_NAME",
    "SOURCE",
    "TASK_MAX_PRIORITY",
    "TASK_MIN_PRIORITY",
    "BaseBackend",
    "InvalidTaskBackendError",
    "InvalidTaskError",
    "Task",
    "TaskContext",
    "TaskError",
    "TaskResult",
    "TaskResultDoesNotExist",
    "TaskResultStatus",
    "task_backends",
    "task_enqueued",
    "task_finished",
    "task_started",
]
