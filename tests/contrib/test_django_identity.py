"""The Django recipe of docs/how-to/identity.md (docs/examples/djangoapp/identity.py)
with a real Django: settings configured in-process, a SQLite database, real
auth Users, a request through the recipe's middleware, and a worker restoring
the user around each job."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from joblane import JobStatus, Queue, Worker
from joblane.backends.memory import MemoryBackend
from joblane.identity import set_provider

django = pytest.importorskip("django")
from django.test import RequestFactory  # noqa: E402

from tests.contrib.django_setup import configure  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


@pytest.fixture(scope="module")
def recipe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    configure(tmp_path_factory.mktemp("django"))
    sys.path.insert(0, str(EXAMPLES))
    try:
        yield importlib.import_module("djangoapp.identity")
    finally:
        sys.path.remove(str(EXAMPLES))
        set_provider(None)


def user_model() -> Any:
    from django.contrib.auth import get_user_model

    return get_user_model()


def enqueue_in_a_request(recipe: Any, queue: Queue, user: Any) -> Any:
    """A view that enqueues, served through the recipe's middleware."""
    jobs: list[Any] = []

    def view(request: Any) -> str:
        jobs.append(queue.enqueue(recipe.rename_me, "Renamed"))
        return "ok"

    request = RequestFactory().post("/rename")
    request.user = user  # as AuthenticationMiddleware sets it
    assert recipe.identity_middleware(view)(request) == "ok"
    return jobs[0]


def drain(backend: MemoryBackend, recipe: Any) -> None:
    worker = Worker(backend, ["normal"], concurrency=1, executor="thread", burst=True,
                    identity=recipe.run_as_user)  # fmt: skip
    worker.run(install_signals=False)


def test_a_job_runs_as_the_user_of_the_request_that_enqueued_it(recipe: Any) -> None:
    set_provider(recipe.request_identity)
    ann = user_model().objects.create_user("ann", first_name="Ann")
    backend = MemoryBackend()
    queue = Queue("normal", backend=backend)
    job = enqueue_in_a_request(recipe, queue, ann)
    outside = queue.enqueue(recipe.rename_me, "x")  # no request: no user
    assert job.record.enqueued_by.user_id == str(ann.pk)
    assert outside.record.enqueued_by is None
    drain(backend, recipe)
    assert job.refresh().get_status() is JobStatus.FINISHED, job.last_job_result
    assert job.return_value == "ann"
    ann.refresh_from_db()
    assert ann.first_name == "Renamed"
    assert outside.refresh().get_status() is JobStatus.FAILED  # ran as nobody: no user


def test_a_user_deleted_or_deactivated_since_the_enqueue_fails_the_job(recipe: Any) -> None:
    set_provider(recipe.request_identity)
    users = user_model().objects
    gone, off = users.create_user("gone"), users.create_user("off")
    backend = MemoryBackend()
    queue = Queue("normal", backend=backend)
    gone_job = enqueue_in_a_request(recipe, queue, gone)
    off_job = enqueue_in_a_request(recipe, queue, off)
    gone_pk = gone.pk
    gone.delete()
    off.is_active = False
    off.save()
    drain(backend, recipe)
    assert gone_job.refresh().get_status() is JobStatus.FAILED
    assert gone_job.last_job_result == (
        f"IdentityError: cannot run the job as user '{gone_pk}': no such user "
        "(deleted since the job was enqueued?)"
    )
    assert off_job.refresh().get_status() is JobStatus.FAILED
    assert off_job.last_job_result == (
        f"IdentityError: cannot run the job as user '{off.pk}': the user is inactive"
    )
