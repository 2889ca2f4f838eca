"""What the add-on sets up in a Zope process: enqueues join the Zope
transaction, and each job records the Plone user who enqueued it.

:func:`install` runs once per process, from the ``IProcessStarting`` event
(``configure.zcml``) in an instance, and from the test layers of
:mod:`joblane.contrib.plone.testing`:

* :func:`joblane.contrib.transaction.install` on ``transaction.manager``: a
  job enqueued while a request runs is stored when the request's transaction
  commits, and not at all if it aborts. ZPublisher retries a request that
  raised ConflictError in a *new* transaction after aborting the first, so
  the first attempt's jobs are dropped and the job is stored once.
* :func:`joblane.identity.set_provider` with :func:`plone_identity`: the
  authenticated user's id, with the paths of the user folder that holds them
  (``users``) and of the current site (``site``) as the identity's context, so
  the Plone worker (:mod:`joblane.contrib.plone.site`) finds them again.
"""

from __future__ import annotations

from typing import Any

from AccessControl.SecurityManagement import getSecurityManager
from Acquisition import aq_inner, aq_parent
from zope.component.hooks import getSite

from joblane.contrib.transaction import TransactionJobs
from joblane.contrib.transaction import install as install_transaction
from joblane.core.identity import Identity
from joblane.identity import set_provider

_installed: list[TransactionJobs] = []


def path_of(obj: Any) -> str:
    """The physical path of a Zope object, as ``/Plone/acl_users``."""
    return "/".join(obj.getPhysicalPath()) or "/"


def plone_identity() -> Identity | None:
    """The user of the current request (None for Anonymous)."""
    user = getSecurityManager().getUser()
    user_id = None if user is None else user.getId()
    if not user_id:
        return None  # Anonymous, or a special user without an id
    context: dict[str, str | int | float | bool | None] = {}
    users = aq_parent(aq_inner(user))
    if users is not None and hasattr(users, "getPhysicalPath"):
        context["users"] = path_of(users)
    site = getSite()
    if site is not None and hasattr(site, "getPhysicalPath"):
        context["site"] = path_of(site)
    return Identity(str(user_id), context)


def install() -> None:
    """Join enqueues to the Zope transaction and capture the Plone user (once)."""
    if not _installed:
        _installed.append(install_transaction())
        set_provider(plone_identity)


def uninstall() -> None:
    """Undo :func:`install` (tests)."""
    while _installed:
        _installed.pop().uninstall()
    set_provider(None)


def process_starting(event: object) -> None:
    """``IProcessStarting`` subscriber: :func:`install` in a starting instance."""
    install()
