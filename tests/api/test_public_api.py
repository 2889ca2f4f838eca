"""The names ``import joblane`` offers."""

from __future__ import annotations

import importlib.metadata
import inspect
import types

import pytest

import joblane
from joblane import errors


def test_all_is_sorted_and_unique() -> None:
    assert joblane.__all__ == sorted(joblane.__all__)
    assert len(set(joblane.__all__)) == len(joblane.__all__)


@pytest.mark.parametrize("name", joblane.__all__)
def test_every_name_in_all_exists(name: str) -> None:
    assert hasattr(joblane, name), name
    assert getattr(joblane, name) is not None


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from joblane import *", namespace)
    namespace.pop("__builtins__")
    assert set(namespace) == set(joblane.__all__)


@pytest.mark.parametrize(
    "name",
    [
        "Queue",
        "Job",
        "Retry",
        "Worker",
        "WorkerThread",
        "job",
        "current_job",
        "JobStatus",
        "Registry",
        "JobRegistry",
        "EnqueueData",
        "PreparedJob",
        "backend_from_url",
        "__version__",
    ],
)
def test_what_a_user_needs_is_public(name: str) -> None:
    assert name in joblane.__all__


def test_every_error_is_public() -> None:
    defined = {
        name
        for name, value in vars(errors).items()
        if inspect.isclass(value) and issubclass(value, errors.JoblaneError)
    }
    assert len(defined) >= 13
    assert defined <= set(joblane.__all__), sorted(defined - set(joblane.__all__))
    for name in defined:
        assert getattr(joblane, name) is getattr(errors, name)


def test_nothing_public_is_missing_from_all() -> None:
    public = {
        name
        for name, value in vars(joblane).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public - set(joblane.__all__) == set()


def test_public_objects_come_from_their_modules() -> None:
    from joblane.client import Job, Queue
    from joblane.core.retry import Retry
    from joblane.tasks import job
    from joblane.worker.run import current_job
    from joblane.worker.worker import Worker, WorkerThread

    assert (joblane.Queue, joblane.Job, joblane.Retry) == (Queue, Job, Retry)
    assert (joblane.Worker, joblane.WorkerThread) == (Worker, WorkerThread)
    assert joblane.job is job
    assert joblane.current_job is current_job


def test_error_hierarchy_matches_the_documentation() -> None:
    e = errors
    assert issubclass(e.InvalidJobError, ValueError)
    for sub in (
        e.InvalidJobIdError,
        e.InvalidQueueNameError,
        e.InvalidFunctionError,
        e.PayloadTooLargeError,
    ):
        assert issubclass(sub, e.InvalidJobError)
    assert issubclass(e.SerializationError, TypeError)
    assert issubclass(e.NoSuchJobError, KeyError)
    assert issubclass(e.WaitTimeoutError, TimeoutError)
    for name in joblane.__all__:
        value = getattr(joblane, name)
        if inspect.isclass(value) and issubclass(value, Exception):
            assert issubclass(value, e.JoblaneError), name


def test_version_is_the_installed_distribution_version() -> None:
    assert joblane.__version__ == importlib.metadata.version("joblane")
