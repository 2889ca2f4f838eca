"""Bad input answers a 4xx JSON error, never a 500, a backend error or a traceback."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pytest

from joblane.backends.base import Capabilities, ReadOnlyBackend, ScheduleInfo, WorkerInfo
from joblane.core.job import JobRecord
from joblane.core.queues import validate_job_id, validate_queue_name
from joblane.core.states import Registry
from joblane.errors import BackendError, InvalidJobError
from joblane.monitor import create_api
from joblane.monitor.api import load_openapi
from tests.monitor.conftest import PREFIX, TOKEN, CheckedClient, make_auth

REGISTRIES = (
    "started_job_registry, deferred_job_registry, canceled_job_registry, "
    "failed_job_registry, finished_job_registry, scheduled_job_registry"
)
QUEUE_RULE = "use 1-64 ASCII letters, digits, '_', '-' or '.', not starting with '.'"
JOB_ID_RULE = "use 1-128 ASCII letters, digits, '_' or '-'"


def error(kind: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"type": kind, "message": message}}


def bad_queue(shown: str) -> dict[str, dict[str, str]]:
    return error("BadRequest", f"invalid queue name {shown}: {QUEUE_RULE}")


def bad_job_id(shown: str) -> dict[str, dict[str, str]]:
    return error("BadRequest", f"invalid job id {shown}: {JOB_ID_RULE}")


LONG = "q" * 10_000

CASES = [
    # unknown queue or registry
    ("/Plone/@rq-queues/nightly", 404, error("NotFound", "unknown queue 'nightly'")),
    ("/Plone/@rq-queues/nightly/failed_job_registry", 404,
     error("NotFound", "unknown queue 'nightly'")),
    ("/Plone/@rq-job/nightly/job-finished", 404, error("NotFound", "unknown queue 'nightly'")),
    ("/Plone/@rq-queues/normal/failed", 404,
     error("NotFound", f"unknown registry 'failed'; expected one of {REGISTRIES}")),
    ("/Plone/@rq-queues/normal/queued_job_registry", 404,
     error("NotFound", f"unknown registry 'queued_job_registry'; expected one of {REGISTRIES}")),
    ("/Plone/@rq-queues/normal/" + "r" * 5000, 404,
     error("NotFound", f"unknown registry '{'r' * 80}...'; expected one of {REGISTRIES}")),
    # paths no route serves
    ("/Plone/@rq-queues/", 404, error("NotFound", "Not Found")),
    ("/Plone/@rq-queues/normal/failed_job_registry/extra", 404, error("NotFound", "Not Found")),
    ("/Plone/@rq-job/normal", 404, error("NotFound", "Not Found")),
    ("/@rq-queues", 404, error("NotFound", "Not Found")),
    ("/Plone/../@rq-queues", 404, error("NotFound", "Not Found")),  # the client resolves ..
    # path tricks
    ("/Plone/@rq-queues/%2E%2E", 400, bad_queue("'..'")),
    ("/Plone/@rq-queues/%2e%2e/failed_job_registry", 400, bad_queue("'..'")),
    ("/Plone/@rq-job/%2E%2E/job-finished", 400, bad_queue("'..'")),
    ("/Plone/@rq-job/normal/%2E%2E", 400, bad_job_id("'..'")),
    ("/Plone/@rq-queues/.hidden", 400, bad_queue("'.hidden'")),
    ("/Plone/@rq-queues/a..b", 400, bad_queue("'a..b'")),
    ("/Plone/@rq-queues/normal%2Ffailed_job_registry", 400,
     error("BadRequest", "encoded slashes are not allowed in the path")),
    ("/Plone/@rq-job/normal/..%2f..%2fetc", 400,
     error("BadRequest", "encoded slashes are not allowed in the path")),
    ("/Plone/@rq-job/normal/a%5Cb", 400,
     error("BadRequest", "encoded slashes are not allowed in the path")),
    ("/Plone/@rq-queues/a%00b", 400, bad_queue("'a\\x00b'")),
    ("/Plone/@rq-queues/a%20b", 400, bad_queue("'a b'")),
    # unicode and very long names, malformed job ids
    ("/Plone/@rq-queues/n\u00f6rmal", 400, bad_queue("'n\u00f6rmal'")),
    ("/Plone/@rq-queues/%F0%9F%93%AC", 400, bad_queue("'\U0001f4ec'")),
    ("/Plone/@rq-queues/%FF%FE", 400, bad_queue("'\ufffd\ufffd'")),
    ("/Plone/@rq-queues/" + LONG, 400, bad_queue(repr(LONG[:80]))),
    ("/Plone/@rq-queues/" + "q" * 65, 400, bad_queue(repr("q" * 65))),
    ("/Plone/@rq-job/normal/bad!id", 400, bad_job_id("'bad!id'")),
    ("/Plone/@rq-job/normal/job.finished", 400, bad_job_id("'job.finished'")),
    ("/Plone/@rq-job/normal/" + "j" * 129, 400, bad_job_id(repr("j" * 80))),
    ("/Plone/@rq-job/normal/j\u00f6b", 400, bad_job_id("'j\u00f6b'")),
    ("/Plone/@rq-job/" + LONG + "/job-finished", 400, bad_queue(repr(LONG[:80]))),
]  # fmt: skip

PAGE = "/Plone/@rq-queues/normal/failed_job_registry"
START_RULE = "start must be an integer from 0 to 1000000000, not "
LIMIT_RULE = "limit must be an integer from 0 to 1000, not "

PAGING_CASES = [
    ("?start=-1", START_RULE + "'-1'"),
    ("?start=abc", START_RULE + "'abc'"),
    ("?start=", START_RULE + "''"),
    ("?start=1.5", START_RULE + "'1.5'"),
    ("?start=+1", START_RULE + "' 1'"),  # a + in a query is a space
    ("?start=%2B1", START_RULE + "'+1'"),
    ("?start=1_000", START_RULE + "'1_000'"),
    ("?start=%D9%A1", START_RULE + "'\u0661'"),  # ARABIC-INDIC DIGIT ONE: int() takes it
    ("?start=1000000001", START_RULE + "'1000000001'"),
    ("?start=" + "9" * 5000, START_RULE + repr("9" * 80 + "...")),
    ("?limit=1001", LIMIT_RULE + "'1001'"),
    ("?limit=-5", LIMIT_RULE + "'-5'"),
    ("?limit=0x10", LIMIT_RULE + "'0x10'"),
    ("?limit=%FF", LIMIT_RULE + "'\ufffd'"),
]


@pytest.mark.parametrize(("path", "status", "body"), CASES, ids=lambda v: str(v)[:40])
def test_bad_paths(client: CheckedClient, path: str, status: int, body: object) -> None:
    response = client.get(path)
    assert (response.status_code, response.json()) == (status, body)
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize(("query", "message"), PAGING_CASES, ids=lambda v: str(v)[:30])
def test_bad_paging_values(client: CheckedClient, query: str, message: str) -> None:
    response = client.get(PAGE + query)
    assert (response.status_code, response.json()) == (400, error("BadRequest", message))


def test_a_paging_value_given_twice(client: CheckedClient) -> None:
    response = client.get(PAGE + "?start=0&start=5")
    assert (response.status_code, response.json()) == (
        400,
        error("BadRequest", "give start once, not 2 times"),
    )


def test_unknown_query_parameters_are_ignored(client: CheckedClient) -> None:
    assert client.get(PAGE + "?_=1699999999&x=y").status_code == 200


class FailingReader:
    """A reader whose every read fails (a backend down, a bug)."""

    url = "failing://"
    capabilities = Capabilities(persistent=True, shared_between_processes=True)

    def __init__(self, error: Exception) -> None:
        self.error = error

    def now(self) -> float:
        return 0.0

    def get(self, job_id: str) -> JobRecord | None:
        raise self.error

    def get_many(self, job_ids: Sequence[str]) -> list[JobRecord | None]:
        raise self.error

    def queue_names(self) -> list[str]:
        raise self.error

    def count(self, queue: str) -> int:
        raise self.error

    def registry_count(self, queue: str, registry: Registry) -> int:
        raise self.error

    def list_queued(self, queue: str, start: int = 0, limit: int = 100) -> list[JobRecord]:
        raise self.error

    def list_registry(
        self, queue: str, registry: Registry, start: int = 0, limit: int = 100
    ) -> list[JobRecord]:
        raise self.error

    def workers(self) -> list[WorkerInfo]:
        raise self.error

    def schedules(self) -> list[ScheduleInfo]:
        raise self.error

    def wait_for_change(self, timeout: float) -> bool:
        return False

    def close(self) -> None:
        pass


def failing_client(exc: Exception) -> CheckedClient:
    reader: ReadOnlyBackend = FailingReader(exc)
    app = create_api(reader, prefix=PREFIX, auth=make_auth())
    return CheckedClient(
        app, headers={"Authorization": f"Bearer {TOKEN}"}, raise_server_exceptions=False
    )


@pytest.mark.parametrize(
    "path", ["/Plone/@rq-queues", "/Plone/@rq-queues/normal", PAGE, "/Plone/@rq-job/normal/j1"]
)
def test_a_backend_error_is_503_without_its_details(path: str) -> None:
    response = failing_client(BackendError("database is locked at /secret/path.db")).get(path)
    assert (response.status_code, response.json()) == (
        503,
        error("ServiceUnavailable", "the job backend is unavailable; try again later"),
    )


def test_an_unexpected_error_is_500_without_a_traceback() -> None:
    response = failing_client(RuntimeError("internal detail")).get("/Plone/@rq-queues")
    assert (response.status_code, response.json()) == (
        500,
        error("InternalServerError", "internal error; the server log has the details"),
    )
    assert b"Traceback" not in response.content and b"internal detail" not in response.content


def test_bad_input_is_judged_before_the_backend_is_read() -> None:
    client = failing_client(RuntimeError("must not be reached"))
    assert client.get("/Plone/@rq-queues/%2E%2E").status_code == 400
    assert client.get("/Plone/@rq-job/normal/bad!id").status_code == 400
    assert client.get("/Plone/@rq-queues/" + LONG).status_code == 400


def path_pattern(template: str, name: str) -> str:
    """The OpenAPI document's pattern for a path parameter, as a Python regex."""
    for parameter in load_openapi()["paths"][template]["parameters"]:
        if parameter["name"] == name:
            pattern: str = parameter["schema"]["pattern"]
            assert pattern.startswith("^") and pattern.endswith("$")
            return pattern[:-1] + r"\Z"  # ECMA-262's $ is Python's \Z, not its $
    raise AssertionError(f"no {name} parameter in {template}")


QUEUE_NAMES = ["normal", "a", "x" * 64, "x" * 65, "a.b", "a..b", ".hidden", "-q_1.", "_", "",
               "a b", "a/b", "n\u00f6rmal", "q.", "..", "a\nb", "normal\n"]  # fmt: skip
JOB_IDS = ["job-1", "J_2", "x" * 128, "x" * 129, "", "a.b", "bad!id", "j\u00f6b", "a\n", "..", "-"]


def accepts(validate: Any, value: str) -> bool:
    try:
        validate(value)
    except InvalidJobError:
        return False
    return True


def test_the_path_parameters_patterns_are_the_servers_rules() -> None:
    for template in ("/@rq-queues/{queue}", "/@rq-queues/{queue}/{registry}",
                     "/@rq-job/{queue}/{job_id}"):  # fmt: skip
        queue = re.compile(path_pattern(template, "queue"))
        for name in QUEUE_NAMES:
            assert bool(queue.search(name)) == accepts(validate_queue_name, name), (template, name)
    job_id = re.compile(path_pattern("/@rq-job/{queue}/{job_id}", "job_id"))
    for value in JOB_IDS:
        assert bool(job_id.search(value)) == accepts(validate_job_id, value), value


@pytest.mark.parametrize(("query", "message"), PAGING_CASES, ids=lambda v: str(v)[:30])
def test_bad_paging_values_for_the_queues(client: CheckedClient, query: str, message: str) -> None:
    response = client.get("/Plone/@rq-queues" + query)
    assert (response.status_code, response.json()) == (400, error("BadRequest", message))
