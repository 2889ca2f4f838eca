"""Several processes on one store at once: no lock errors, every job claimed once."""

from __future__ import annotations

import multiprocessing
from collections import Counter

import pytest

from joblane.core.states import Registry

from .conftest import Store
from .processes import produce_and_consume

PROCESSES = 3
JOBS_EACH = 150


@pytest.mark.requires(shared_between_processes=True)
def test_processes_enqueue_and_claim_each_job_exactly_once(store: Store) -> None:
    backend = store.open()
    open_url = store.kind.open_url
    assert open_url is not None
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(PROCESSES)
    done = context.Value("i", 0)
    results = context.Queue()
    children = [
        context.Process(
            target=produce_and_consume,
            args=(open_url, backend.url, f"p{i}", JOBS_EACH, start, done, PROCESSES, results),
        )
        for i in range(PROCESSES)
    ]
    for child in children:
        child.start()
    reports = [results.get(timeout=60) for _ in children]
    for child in children:
        child.join(timeout=30)
    assert [error for *_, error in reports] == [None] * PROCESSES
    enqueued = [job_id for _, ids, _, _ in reports for job_id in ids]
    claimed = Counter(job_id for _, _, ids, _ in reports for job_id in ids)
    assert len(enqueued) == len(set(enqueued)) == PROCESSES * JOBS_EACH
    assert set(claimed) == set(enqueued)
    assert set(claimed.values()) == {1}
    assert backend.registry_count("normal", Registry.FINISHED) == PROCESSES * JOBS_EACH
    assert backend.count("normal") == 0
