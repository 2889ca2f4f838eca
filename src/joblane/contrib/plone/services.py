"""Seed 000's monitoring endpoints as plone.restapi services on the site root.

::

    GET /Plone/@rq-queues                        one page of the queues (?start=&limit=)
    GET /Plone/@rq-queues/{queue}                one queue
    GET /Plone/@rq-queues/{queue}/{registry}     one page of a registry (?start=&limit=)
    GET /Plone/@rq-job/{queue}/{job_id}          one job, or {} (404)

Registered in ``configure.zcml`` for the add-on's browser layer (so only a
site that installed the profile answers), protected by the permission
``joblane: View queues`` (Manager and Site Administrator by default). Plone
authenticates the request (Basic, a plone.restapi JWT from ``@login``, a
cookie); Anonymous gets 401 and a Member 401/403 from Zope's publisher.

The answers come from :class:`joblane.monitor.views.MonitorViews`, the same
code the Starlette API answers through: the shapes, the paging (``Link``
header), the 400/404 cases and the error shape are one code. The body is sent
as the views encode it (plone.restapi's own encoder sorts keys; the seed's
job keys keep their order).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import orjson
from plone.restapi.services import Service
from zope.interface import implementer
from zope.publisher.interfaces import IPublishTraverse

from joblane.contrib.plone.config import instance_backend
from joblane.core.queues import DEFAULT_QUEUES, parse_queue_list
from joblane.errors import BackendError
from joblane.monitor.views import Answer, MonitorViews, ViewError, error_json

log = logging.getLogger("joblane.plone")

ENV_QUEUES = "JOBLANE_API_QUEUES"


def monitor_views() -> MonitorViews:
    """The views over the instance's backend (:func:`~.config.instance_url`)."""
    queues = parse_queue_list(os.environ.get(ENV_QUEUES) or DEFAULT_QUEUES)
    return MonitorViews(instance_backend(), queues)


@implementer(IPublishTraverse)
class _MonitorService(Service):
    """A service whose path segments after its name are its parameters."""

    service_name = ""

    def __init__(self, context: Any, request: Any) -> None:
        super().__init__(context, request)
        self.params: list[str] = []

    def publishTraverse(self, request: Any, name: str) -> _MonitorService:
        self.params.append(name)
        return self

    def render(self) -> bytes:
        self.check_permission()
        response = self.request.response
        response.setHeader("Content-Type", "application/json")
        response.setHeader("Cache-Control", "no-store")
        try:
            answer = self.answer(monitor_views())
        except ViewError as error:
            return self._error(error.status, error.message)
        except BackendError:
            log.exception("joblane: backend error on %s", self.request.get("URL", ""))
            return self._error(503, "the job backend is unavailable; try again later")
        response.setStatus(answer.status)
        for name, value in answer.headers.items():
            response.setHeader(name, value)
        return answer.body

    def _error(self, status: int, message: str) -> bytes:
        self.request.response.setStatus(status)
        return orjson.dumps(error_json(status, message))

    def query(self, name: str) -> list[str]:
        """The values of query parameter *name*, as given (``?limit=1&limit=2`` is two)."""
        raw = self.request.form.get(name)
        if raw is None:
            return []
        return [str(v) for v in raw] if isinstance(raw, list) else [str(raw)]

    def answer(self, views: MonitorViews) -> Answer:
        raise NotImplementedError

    def unexpected(self) -> ViewError:
        shown = "/".join(self.params)
        return ViewError(404, f"no such resource: {self.service_name}/{shown}")


class QueuesGet(_MonitorService):
    """``@rq-queues``, ``@rq-queues/{queue}`` and ``@rq-queues/{queue}/{registry}``."""

    service_name = "@rq-queues"

    def answer(self, views: MonitorViews) -> Answer:
        params = self.params
        if not params:
            return views.list_queues(self.query("start"), self.query("limit"))
        if len(params) == 1:
            return views.get_queue(params[0])
        if len(params) == 2:
            return views.get_registry(
                params[0], params[1], self.query("start"), self.query("limit")
            )
        raise self.unexpected()


class JobGet(_MonitorService):
    """``@rq-job/{queue}/{job_id}``."""

    service_name = "@rq-job"

    def answer(self, views: MonitorViews) -> Answer:
        if len(self.params) != 2:
            raise self.unexpected()
        return views.get_job(self.params[0], self.params[1])
