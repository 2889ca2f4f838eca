"""The spool: files of committed jobs, replayed once each, bad ones set aside."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import tests.jobs.sample  # noqa: F401  # the @job functions
from joblane import Identity, JobStatus, Queue, Worker, acting_as
from joblane.backends.base import Backend
from joblane.config import backend_from_url
from joblane.spool import replay, spool_directory, write

ADD = "tests.jobs.sample.add"


def test_the_default_spool_is_beside_the_sqlite_file(backend: Backend, db_path: Path) -> None:
    assert spool_directory(backend) == Path(f"{db_path}.spool")


def test_a_replay_stores_what_is_missing_once(backend: Backend, queue: Queue) -> None:
    directory = spool_directory(backend)
    assert directory is not None
    stored, missing = queue.build(ADD, 1, 1), queue.build(ADD, 2, 2)
    queue.store([stored])  # the writer's store came through before it died
    write(directory, backend, [(stored.record, False), (missing.record, False)]).release()
    assert replay(backend, directory) == 1
    assert {j.id for j in queue.get_jobs()} == {stored.id, missing.id}
    assert replay(backend, directory) == 0 and list(directory.iterdir()) == []


def test_a_replayed_job_keeps_who_enqueued_it(backend: Backend, queue: Queue) -> None:
    directory = spool_directory(backend)
    assert directory is not None
    with acting_as("editor-7", site="/Plone"):
        job = queue.build(ADD, 1, 2)
    write(directory, backend, [(job.record, False)]).release()
    assert replay(backend, directory) == 1
    stored = backend.get(job.id)
    assert stored is not None and stored.enqueued_by == Identity("editor-7", {"site": "/Plone"})


def test_a_locked_file_is_left_to_its_writer(backend: Backend, queue: Queue) -> None:
    directory = spool_directory(backend)
    assert directory is not None
    held = write(directory, backend, [(queue.build(ADD, 1, 1).record, False)])
    assert replay(backend, directory) == 0 and len(queue) == 0
    held.release()
    assert replay(backend, directory) == 1


def test_another_backends_file_is_left_alone(
    backend: Backend, queue: Queue, tmp_path: Path
) -> None:
    other = backend_from_url(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        directory = tmp_path / "shared-spool"
        write(directory, other, [(queue.build(ADD, 1, 1).record, False)]).release()
        assert replay(backend, directory) == 0
        assert replay(other, directory) == 1
    finally:
        other.close()


def test_an_unreadable_file_costs_only_itself(
    backend: Backend, queue: Queue, caplog: pytest.LogCaptureFixture
) -> None:
    directory = spool_directory(backend)
    assert directory is not None
    directory.mkdir()
    (directory / "0-broken.jobs").write_bytes(b'{"version": 1, "jobs": [')
    write(directory, backend, [(queue.build(ADD, 1, 1).record, False)]).release()
    with caplog.at_level(logging.ERROR, "joblane.spool"):
        assert replay(backend, directory) == 1
    assert [p.name for p in directory.iterdir()] == ["0-broken.bad"]
    assert "cannot read 0-broken.jobs" in caplog.text


def test_a_worker_replays_the_spool_as_a_side_task(backend: Backend, queue: Queue) -> None:
    directory = spool_directory(backend)
    assert directory is not None
    job = queue.build(ADD, 1, 1)
    write(directory, backend, [(job.record, False)]).release()
    worker = Worker(backend, ["normal"], executor="thread", concurrency=1)
    assert "spool" in worker.side_tasks.tasks
    worker.side_tasks.run("spool", backend.now())
    assert [j.status for j in queue.get_jobs()] == [JobStatus.QUEUED]
