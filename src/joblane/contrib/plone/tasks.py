"""HTTP tasks in Plone: a task request is authenticated as the user who queued it.

::

    from joblane.contrib.plone.tasks import add

    add("/Plone/@@reindex-all", params={"path": "/Plone/news"})   # in a request

:func:`add` is :func:`joblane.http.add` on the instance's queue: the task is
stored when the request's Zope transaction commits, with the Plone user's id
as its ``enqueued_by`` (:mod:`.startup`), which the worker's
:func:`joblane.http.send` puts in ``X-Task-User-Id`` and signs.

When the task request comes back to the site:

1. :func:`mark_task_request` (a before-traverse subscriber of the site root)
   verifies it with :func:`joblane.http.verify` (the method, the decoded path,
   the query, the headers and the body) and, for a verified task, marks the
   request with :class:`~.interfaces.ITaskLayer`: views registered for that
   layer are found only by task requests (any other request gets 404);
2. :class:`TaskPlugin`, the PAS plugin the add-on's profile installs in the
   site's ``acl_users`` (id ``joblane_tasks``), extracts the verified task
   (IExtractionPlugin) and authenticates the request as its user id
   (IAuthenticationPlugin), if that user is in the site's user folder;
3. a request with any ``X-Task-*`` header that does not verify (no or a bad
   signature, out of the time window, a replay) raises Unauthorized at
   extraction: it is never authenticated as anyone, whatever else it carries
   (a cookie, Basic credentials), and the plugin, first among the challenge
   plugins with a protocol of its own, answers it ``401`` with the reason
   in the ``X-Task-Refused`` response header (the body is the site's own
   Unauthorized page), instead of Plone's redirect to the login form.

The verification happens once per request: its outcome is kept in the WSGI
environ (``joblane.task``, as the WSGI middleware keeps it), so the nonce
seen once is not a replay when ZPublisher retries the request after a
ConflictError, nor when both the subscriber and the plugin ask.
"""

from __future__ import annotations

from typing import Any

from AccessControl.class_init import InitializeClass
from Products.PluggableAuthService.interfaces.plugins import (
    IAuthenticationPlugin,
    IChallengePlugin,
    IExtractionPlugin,
)
from Products.PluggableAuthService.plugins.BasePlugin import BasePlugin
from zExceptions import Unauthorized
from zope.interface import alsoProvides, implementer

from joblane.client import Queue
from joblane.contrib.plone.interfaces import ITaskLayer
from joblane.contrib.plone.queues import queue as instance_queue
from joblane.errors import ConfigurationError, TaskRequestError
from joblane.http import verify
from joblane.http.producer import CURRENT, Params, Payload
from joblane.http.producer import add as http_add
from joblane.http.settings import current_settings
from joblane.http.signing import TASK_HEADERS, VerifiedTask
from joblane.http.wsgi import ENVIRON_KEY, environ_headers, environ_path

PLUGIN_ID = "joblane_tasks"
"""The plugin's id in the site's ``acl_users``."""
REFUSED_KEY = "joblane.task_refused"
"""The WSGI environ key holding why a task request was refused."""
REFUSED_HEADER = "X-Task-Refused"
"""The response header saying why a task request was refused (the body is
the site's own Unauthorized page)."""
PROTOCOL = "joblane-task"
"""The plugin's challenge protocol (no other plugin's: only it answers a refused task)."""


def add(
    url: str,
    method: str = "GET",
    params: Params | None = None,
    headers: dict[str, str] | None = None,
    payload: Payload = CURRENT,
    queue: Queue | str | None = None,
    **options: Any,
) -> str:
    """:func:`joblane.http.add` with *queue* defaulting to the instance's
    ``normal`` queue (a name: that queue of the instance's backend)."""
    if queue is None or isinstance(queue, str):
        queue = instance_queue(queue or "normal")
    return http_add(url, method, params, headers, payload, queue, **options)


def _environs(request: Any) -> list[dict[str, Any]]:
    """The request's environ and the WSGI one it was made from (kept across retries)."""
    found: list[dict[str, Any]] = []
    for name in ("_orig_env", "environ"):
        env = getattr(request, name, None)
        if isinstance(env, dict) and all(env is not seen for seen in found):
            found.append(env)
    return found


def _body(request: Any, limit: int) -> bytes | None:
    """The raw body (at most *limit* bytes; None over it), the stream rewound."""
    stdin = getattr(request, "stdin", None)
    if stdin is None:
        return b""
    try:
        stdin.seek(0)
        body = stdin.read(limit + 1)
        stdin.seek(0)
    except (OSError, ValueError):
        return b""
    body = bytes(body or b"")
    return None if len(body) > limit else body


def task_of(request: Any) -> VerifiedTask | None:
    """The verified task of *request*, None for a request without task headers;
    TaskRequestError (the reason) for one that does not verify. Verified once
    per request (see the module docstring)."""
    envs = _environs(request)
    if not envs:
        return None
    for env in envs:
        if REFUSED_KEY in env:
            raise TaskRequestError(str(env[REFUSED_KEY]))
        if ENVIRON_KEY in env:
            task: VerifiedTask | None = env[ENVIRON_KEY]
            return task
    environ = envs[-1]
    headers = environ_headers(envs[0])
    if not any(name.lower() in TASK_HEADERS for name, _ in headers):
        return None
    try:
        limit = current_settings().max_body
        body = _body(request, limit)
        if body is None:
            raise TaskRequestError(f"the body is over {limit} bytes: it cannot be verified")
        method = str(environ.get("REQUEST_METHOD", "GET"))
        task = verify(method, environ_path(environ), str(environ.get("QUERY_STRING", "")),
                      headers, body)  # fmt: skip
    except (TaskRequestError, ConfigurationError) as refused:
        reason = getattr(refused, "reason", None) or str(refused)
        for env in envs:
            env[REFUSED_KEY] = reason
        raise TaskRequestError(reason) from refused
    for env in envs:
        env[ENVIRON_KEY] = task
    return task


def mark_task_request(site: Any, event: Any) -> None:
    """Before traversing the site root: a verified task request gets
    :class:`~.interfaces.ITaskLayer`; a refused one raises Unauthorized (401,
    answered by the plugin's challenge) if the site has the plugin, before any
    view is looked up (a view of the task layer would otherwise be a 404)."""
    request = getattr(event, "request", None)
    if request is None:
        return
    try:
        task = task_of(request)
    except TaskRequestError as refused:
        users = getattr(site, "acl_users", None)
        if users is not None and PLUGIN_ID in users.objectIds():
            _refuse(request.response, refused.reason)
            raise Unauthorized(f"task request refused: {refused.reason}") from None
        return  # a site without the plugin: the request goes on, authenticated as no task
    if task is not None:
        alsoProvides(request, ITaskLayer)


def _refuse(response: Any, reason: str) -> None:
    response.setStatus(401)
    response.setHeader(REFUSED_HEADER, " ".join(reason.split()))


@implementer(IExtractionPlugin, IAuthenticationPlugin, IChallengePlugin)
class TaskPlugin(BasePlugin):
    """The PAS plugin of HTTP tasks (see the module docstring)."""

    meta_type = "joblane task plugin"
    protocol = PROTOCOL

    def __init__(self, id: str = PLUGIN_ID, title: str = "joblane HTTP tasks") -> None:
        self._setId(id)
        self.title = title

    def extractCredentials(self, request: Any) -> dict[str, str]:
        """The verified task's user; Unauthorized for a refused task request."""
        try:
            task = task_of(request)
        except TaskRequestError as refused:
            raise Unauthorized(f"task request refused: {refused.reason}") from None
        if task is None or not task.user_id:
            return {}
        return {"joblane_task_id": task.task_id, "joblane_user_id": task.user_id}

    def authenticateCredentials(self, credentials: dict[str, Any]) -> tuple[str, str] | None:
        """Only credentials this plugin extracted, of a user of this user folder."""
        if credentials.get("extractor") != self.getId():
            return None
        user_id = credentials.get("joblane_user_id")
        if not user_id:
            return None
        user = self._getPAS().getUserById(user_id)
        if user is None:
            return None
        return str(user.getId()), str(user.getUserName())

    def challenge(self, request: Any, response: Any) -> bool:
        """A request carrying task headers that was refused: 401 with the reason."""
        reason = None
        for env in _environs(request):
            reason = reason or env.get(REFUSED_KEY)
        if reason is None:
            return False
        _refuse(response, str(reason))
        return True


InitializeClass(TaskPlugin)


def install_plugin(site: Any) -> None:
    """Add :class:`TaskPlugin` to *site*'s ``acl_users``, active, first of its kinds."""
    pas = site.acl_users
    if PLUGIN_ID not in pas.objectIds():
        pas._setObject(PLUGIN_ID, TaskPlugin())
    plugin = pas[PLUGIN_ID]
    plugin.manage_activateInterfaces(
        ["IExtractionPlugin", "IAuthenticationPlugin", "IChallengePlugin"]
    )
    for kind in (IExtractionPlugin, IAuthenticationPlugin, IChallengePlugin):
        # First: a verified task request's user comes before any other credentials
        # it carries (PAS takes the first user allowed), and only its challenge fires.
        pas.plugins.movePluginsTop(kind, [PLUGIN_ID])


def uninstall_plugin(site: Any) -> None:
    """Remove :class:`TaskPlugin` from *site*'s ``acl_users`` (if there)."""
    pas = site.acl_users
    if PLUGIN_ID in pas.objectIds():
        pas.manage_delObjects([PLUGIN_ID])
