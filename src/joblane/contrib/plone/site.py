"""Jobs that run inside a Plone site, as the user who enqueued them.

::

    from joblane.contrib.plone.site import site_job

    @site_job(retry=Retry(max=2))            # joblane.job's options
    def create_items(folder_path, titles):   # runs in the site, as the enqueuer
        folder = api.content.get(path=folder_path)
        ...

A site job, run by the Plone worker (:mod:`joblane.contrib.plone.worker`):

1. the worker's identity hook (:func:`restore`) finds the enqueuer in the
   user folder the identity names (``users``); a user deleted since the
   enqueue fails the job with IdentityError, never running it as anyone else;
2. per attempt, a ZODB connection is opened on the database the slot loaded
   (:func:`use_database`), the site (``site`` of the identity, or the
   decorator's ``site=``) is traversed to and set (``setSite``), a request is
   made for it (``makerequest``, ``setRequest``), and the user is logged in
   with ``newSecurityManager``;
3. the function runs; the transaction is committed; a ConflictError (in the
   function or at the commit) aborts and runs it again from a fresh state, up
   to *conflict_retries* times as ZPublisher retries a request (after a short
   random pause); once they are spent, the attempt fails with the
   ConflictError and the job's retry policy decides; any other
   error aborts and fails the attempt (retried by the job's retry policy);
4. the security manager, site and request are cleared and the connection closed.

Called where a site is already set (the instance itself, the immediate
backend in a test), a site job is the plain function, in the caller's
transaction. Jobs without ``@site_job`` run as plain functions.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import random
import time
from collections.abc import Callable, Iterator
from typing import Any, ParamSpec, TypeVar

import transaction
from AccessControl.SecurityManagement import newSecurityManager, noSecurityManager
from Testing.makerequest import makerequest
from ZODB.POSException import ConflictError
from zope.component.hooks import getSite, setSite
from zope.globalrequest import setRequest

from joblane.core.identity import Identity, shown_user
from joblane.errors import ConfigurationError, IdentityError
from joblane.tasks import job

P = ParamSpec("P")
R = TypeVar("R")

CONFLICT_RETRIES = 3
"""ConflictError retries of one attempt, as ZPublisher's ``max_conflict_retries``."""
CONFLICT_PAUSE = 0.1
"""Seconds: the next run after the n-th conflict waits up to n times this (at random)."""

_database: list[Any] = []
_enqueuer: contextvars.ContextVar[Identity | None] = contextvars.ContextVar(
    "joblane_plone_enqueuer", default=None
)


def use_database(db: Any) -> None:
    """Run this process's site jobs on *db* (a ``ZODB.DB``); the worker's
    ``on_startup`` sets it once per slot."""
    _database[:] = [db]


def database() -> Any:
    if not _database:
        raise ConfigurationError(
            "no Zope database in this process: run site jobs with the Plone worker "
            "(python -m joblane.contrib.plone.worker), or call use_database(db) first"
        )
    return _database[0]


@contextlib.contextmanager
def restore(identity: Identity) -> Iterator[None]:
    """The worker's identity hook (``--identity joblane.contrib.plone.site:restore``):
    IdentityError if the enqueuer is no longer in their user folder; inside,
    site jobs run as them."""
    with opened() as app:
        find_user(app, identity)
    token = _enqueuer.set(identity)
    try:
        yield
    finally:
        _enqueuer.reset(token)


@contextlib.contextmanager
def opened() -> Iterator[Any]:
    """The Zope application on a new connection of :func:`database`, closed after."""
    connection = database().open()
    try:
        yield connection.root()["Application"]
    finally:
        transaction.abort()
        connection.close()


def find_user(app: Any, identity: Identity) -> Any:
    """The enqueuer, wrapped in their user folder; IdentityError if gone."""
    path = str(identity.context.get("users") or "/acl_users")
    who = shown_user(identity.user_id)
    users = app.unrestrictedTraverse(path.lstrip("/"), None)
    if users is None or not hasattr(users, "getUserById"):
        raise IdentityError(f"user {who}: the user folder {path} no longer exists")
    user = users.getUserById(identity.user_id)
    if user is None:
        raise IdentityError(
            f"user {who} no longer exists in {path}; the job is not run as anyone else"
        )
    return user.__of__(users) if hasattr(user, "__of__") else user


def site_job(
    func: Callable[P, R] | None = None,
    *,
    site: str | None = None,
    conflict_retries: int = CONFLICT_RETRIES,
    **options: Any,
) -> Any:
    """Mark a job as running inside the Plone site (see the module docstring).

    *site*: the site's path when the enqueuer's identity names none (a job
    enqueued outside a request). *options*: those of :func:`joblane.job`.
    """

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def in_site(*args: P.args, **kwargs: P.kwargs) -> R:
            if getSite() is not None:
                return fn(*args, **kwargs)  # already in a site: the caller's transaction
            return run_in_site(fn, args, kwargs, site=site, conflict_retries=conflict_retries)

        in_site.joblane_site_job = True  # type: ignore[attr-defined]
        return job(**options)(in_site) if options else job(in_site)

    return decorate if func is None else decorate(func)


def run_in_site(
    fn: Callable[..., R],
    args: Any,
    kwargs: Any,
    *,
    site: str | None = None,
    conflict_retries: int = CONFLICT_RETRIES,
) -> R:
    """Run ``fn(*args, **kwargs)`` in the site, as the enqueuer, committing at
    the end; ConflictError runs it again up to *conflict_retries* times."""
    identity = _enqueuer.get()
    path = site
    if identity is not None and identity.context.get("site"):
        path = str(identity.context["site"])
    if not path:
        raise ConfigurationError(
            f"{getattr(fn, '__qualname__', fn)} needs a Plone site, and neither the job's "
            "enqueuer (enqueued outside a site) nor @site_job(site=...) names one"
        )
    for attempt in range(conflict_retries + 1):
        try:
            return _attempt(fn, args, kwargs, path, identity)
        except ConflictError:
            if attempt == conflict_retries:
                raise
            # Unlike a request, a job has no user waiting: a short random pause
            # lets the competing transactions through before the next run.
            time.sleep(random.uniform(0, CONFLICT_PAUSE * (attempt + 1)))
    raise AssertionError("unreachable")  # pragma: no cover


def _attempt(fn: Callable[..., R], args: Any, kwargs: Any, path: str,
             identity: Identity | None) -> R:  # fmt: skip
    connection = database().open()
    request = None
    try:
        txn = transaction.begin()
        app = makerequest(connection.root()["Application"])
        request = app.REQUEST
        setRequest(request)
        portal = app.unrestrictedTraverse(path.lstrip("/"), None)
        if portal is None:
            raise ConfigurationError(f"the Plone site {path} does not exist")
        setSite(portal)
        request["PARENTS"] = [portal, app]
        if identity is not None:
            newSecurityManager(request, find_user(app, identity))
        result = fn(*args, **kwargs)
        txn.commit()
        return result
    except BaseException:
        transaction.abort()
        raise
    finally:
        noSecurityManager()
        setSite(None)
        setRequest(None)
        if request is not None:
            request.close()
        connection.close()
