"""Seed 000's four read endpoints, free of any web framework.

The Starlette API (:mod:`joblane.monitor.api`) and the Plone REST services
(:mod:`joblane.contrib.plone.services`) both answer through :class:`MonitorViews`,
so the two serve the same shapes, the same paging and the same errors::

    views = MonitorViews(reader, queues=("important", "normal", "low"))
    answer = views.list_queues(start=["0"], limit=["10"])   # query values as given
    answer.status, answer.body, answer.headers              # 200, bytes, {"Link": ...}

Each method takes the path parameters as strings and each query parameter as
the list of values the request gave (so ``?limit=1&limit=2`` can be refused);
it returns an :class:`Answer` (JSON bytes ready to send) or raises
:class:`ViewError` with the HTTP status and the message for people.

Paging: a list answers at most ``limit`` items (default 100, at most 1000) from
``start``, and a ``Link: <?start=N&limit=L>; rel="next"`` header while more
follow. A registry page also stops before the body would pass its byte budget
(``page_bytes``, default 4 MiB), though it always holds at least one job; its
next link then starts at the first job left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import orjson

from joblane.backends.base import ReadOnlyBackend
from joblane.core.queues import validate_job_id, validate_queue_name
from joblane.core.states import Registry
from joblane.errors import ConfigurationError, InvalidJobError
from joblane.monitor import schemas

DEFAULT_LIMIT = 100
"""Jobs in a registry page, or queues in a page of queues, when ``?limit=`` is not given."""
MAX_LIMIT = 1000
MAX_START = 1_000_000_000
DEFAULT_PAGE_BYTES = 4 * 1024 * 1024
"""The byte budget of a registry page."""

_DIGITS = re.compile(r"[0-9]{1,10}")


class ViewError(Exception):
    """A request the views refuse: *status* (400, 404) and a message for people."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Answer:
    """What an endpoint answers: a status, the JSON body as bytes, headers."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return orjson.loads(self.body)


def error_type(status: int) -> str:
    """``404`` → ``"NotFound"``: the HTTP status phrase without spaces."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return "".join(word[:1].upper() + word[1:] for word in phrase.replace("-", " ").split())


def error_json(status: int, message: str) -> dict[str, Any]:
    """The API's one error shape: ``{"error": {"type": "NotFound", "message": ...}}``."""
    return {"error": {"type": error_type(status), "message": message}}


def shown(value: str) -> str:
    """*value* as an error message quotes it (cut to 80 characters)."""
    return repr(value if len(value) <= 80 else value[:80] + "...")


def int_param(values: Sequence[str], name: str, default: int, maximum: int) -> int:
    """The query parameter *name* given as *values*; ViewError 400 unless it is
    given at most once as an integer from 0 to *maximum*."""
    if not values:
        return default
    if len(values) > 1:
        raise ViewError(400, f"give {name} once, not {len(values)} times")
    value = values[0]
    if not _DIGITS.fullmatch(value) or int(value) > maximum:
        raise ViewError(400, f"{name} must be an integer from 0 to {maximum}, not {shown(value)}")
    return int(value)


def next_link(start: int, step: int, count: int, limit: int | None = None) -> dict[str, str]:
    """The ``Link`` header to the page after the *step* items from *start*, if
    any of *count* follow; that page asks for *limit* items (default *step*)."""
    if not step or start + step >= count:
        return {}
    # A relative reference of only a query resolves against this very path.
    return {"Link": f'<?start={start + step}&limit={step if limit is None else limit}>; rel="next"'}


class MonitorViews:
    """The read endpoints over one reader (sync; the reader must be thread-safe).

    The queues listed are *queues* (the configured ones) plus every queue the
    backend holds jobs in; any other queue is 404.
    """

    def __init__(
        self,
        reader: ReadOnlyBackend,
        queues: Iterable[str],
        page_bytes: int = DEFAULT_PAGE_BYTES,
    ) -> None:
        if isinstance(page_bytes, bool) or not isinstance(page_bytes, int) or page_bytes <= 0:
            raise ConfigurationError(f"page_bytes must be a positive int, not {page_bytes!r}")
        self.reader = reader
        self.configured = frozenset(validate_queue_name(q) for q in queues)
        self.page_bytes = page_bytes

    # -- helpers -------------------------------------------------------------

    def queue_names(self) -> list[str]:
        return sorted(self.configured.union(self.reader.queue_names()))

    def known_queue(self, name: str) -> str:
        """*name* if valid (else 400) and configured or holding jobs (else 404)."""
        queue = self.valid_queue(name)
        self.require_known(queue)
        return queue

    @staticmethod
    def valid_queue(name: str) -> str:
        try:
            return validate_queue_name(name)
        except InvalidJobError as error:
            raise ViewError(400, str(error)) from None

    def require_known(self, queue: str) -> None:
        if queue not in self.configured and queue not in self.reader.queue_names():
            raise ViewError(404, f"unknown queue {queue!r}")

    def queue_json(self, queue: str) -> dict[str, Any]:
        counts = {r: self.reader.registry_count(queue, r) for r in Registry}
        return schemas.queue_json(queue, self.reader.count(queue), counts)

    # -- endpoints -----------------------------------------------------------

    def list_queues(self, start: Sequence[str] = (), limit: Sequence[str] = ()) -> Answer:
        """``GET @rq-queues``: one page of the queues, by name."""
        first = int_param(start, "start", 0, MAX_START)
        size = int_param(limit, "limit", DEFAULT_LIMIT, MAX_LIMIT)
        names = self.queue_names()
        # Counts are read for this page's queues only.
        items = [self.queue_json(name) for name in names[first : first + size]]
        body = orjson.dumps(schemas.queue_list_json(items))
        return Answer(200, body, next_link(first, size, len(names)))

    def get_queue(self, queue: str) -> Answer:
        """``GET @rq-queues/{queue}``."""
        return Answer(200, orjson.dumps(self.queue_json(self.known_queue(queue))))

    def get_registry(
        self, queue: str, registry: str, start: Sequence[str] = (), limit: Sequence[str] = ()
    ) -> Answer:
        """``GET @rq-queues/{queue}/{registry}``: one page of the registry's jobs."""
        name = self.known_queue(queue)
        try:
            which = Registry(registry)
        except ValueError:
            expected = ", ".join(r.value for r in Registry)
            raise ViewError(
                404, f"unknown registry {shown(registry)}; expected one of {expected}"
            ) from None
        first = int_param(start, "start", 0, MAX_START)
        size = int_param(limit, "limit", DEFAULT_LIMIT, MAX_LIMIT)
        count = self.reader.registry_count(name, which)
        records = self.reader.list_registry(name, which, first, size) if size else []
        body, held = schemas.registry_page_bytes(name, which, count, records, self.page_bytes)
        # Cut short by the budget, the next page starts at the first job left out.
        step = held if held < len(records) else size
        return Answer(200, body, next_link(first, step, count, size))

    def get_job(self, queue: str, job_id: str) -> Answer:
        """``GET @rq-job/{queue}/{job_id}``: the job, or ``{}`` with 404."""
        name = self.valid_queue(queue)
        try:
            valid_id = validate_job_id(job_id)
        except InvalidJobError as error:
            raise ViewError(400, str(error)) from None
        self.require_known(name)
        record = self.reader.get(valid_id)
        if record is None or record.queue != name:
            return Answer(404, b"{}")  # the seed: "A missing job returns an empty object"
        return Answer(200, orjson.dumps(schemas.job_json(record)))
