"""Fixtures for the public API tests: a memory backend on a manual clock, and
in-process workers with thread slots."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

import tests.jobs.sample  # noqa: F401  # registers the @job functions, as a worker's --import
from joblane import Queue, Worker, WorkerThread
from joblane.backends.base import Backend
from joblane.backends.immediate import ImmediateBackend
from joblane.backends.memory import MemoryBackend
from joblane.testing import ManualClock
from joblane.worker.worker import WorkerStats


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def backend(clock: ManualClock) -> MemoryBackend:
    return MemoryBackend(clock=clock)


@pytest.fixture
def queue(backend: MemoryBackend) -> Queue:
    return Queue("normal", backend=backend)


@pytest.fixture
def immediate(clock: ManualClock) -> ImmediateBackend:
    return ImmediateBackend(clock=clock)


@pytest.fixture
def iqueue(immediate: ImmediateBackend) -> Queue:
    return Queue("normal", backend=immediate)


def drain(backend: Backend, queues: Sequence[str] = ("normal",), **options: Any) -> WorkerStats:
    """Run a burst worker with one thread slot until the queues are empty."""
    options.setdefault("concurrency", 1)
    options.setdefault("executor", "thread")
    worker = Worker(backend, queues, burst=True, **options)
    return worker.run(install_signals=False)


@pytest.fixture
def start_worker(backend: MemoryBackend) -> Iterator[Callable[..., WorkerThread]]:
    """Start a worker thread (thread slots) on *backend*; it is stopped after the test."""
    started: list[WorkerThread] = []

    def start(queues: Sequence[str] = ("normal",), **options: Any) -> WorkerThread:
        options.setdefault("concurrency", 1)
        thread = WorkerThread(backend, queues, **options).start()
        started.append(thread)
        return thread

    yield start
    for thread in started:
        thread.stop(timeout=10)
