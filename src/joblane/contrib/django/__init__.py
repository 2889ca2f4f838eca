"""Jobs that follow a Django transaction: stored at its commit, never when it rolls back.

::

    INSTALLED_APPS = [..., "joblane.contrib.django"]   # installs at start-up
    JOBLANE_DATABASE = "default"        # the alias whose transactions jobs join
    JOBLANE_ON_COMMIT_ROBUST = True     # on_commit(robust=...): see below

or, without the app, ``install(using="default", robust=True)``.

Opt-in (the app, or :func:`install`): it decides when every enqueue of the
process is stored, which importing a module should not do. While the alias's
connection is in an ``atomic`` block, each enqueue call is buffered and stored
by one ``transaction.on_commit`` callback of its own; a rolled-back savepoint
drops it with Django's own callbacks. See docs/how-to/transactions.md.

``JoblaneBackend`` (a backend for Django's tasks framework, docs/how-to/django.md)
is imported on first use, so the adapter needs neither ``django.tasks`` nor the
``django-tasks`` backport.
"""

from typing import Any

from joblane.contrib.django.adapter import DjangoJobs, install

__all__ = ["DjangoJobs", "JoblaneBackend", "install"]


def __getattr__(name: str) -> Any:
    if name == "JoblaneBackend":
        from joblane.contrib.django.backend import JoblaneBackend

        return JoblaneBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
