"""The INSERT forms of an enqueue (enqueue.insert): new jobs leave the columns
of a never-run job to their defaults (insert_new_job), a batch of new jobs with
shared options binds those once (insert_new_jobs), anything else goes through
the full forms (insert_job, insert_jobs). Whatever the form, a job reads back
as it was given, and a queue keeps its order."""

from __future__ import annotations

import dataclasses
from typing import Any

from joblane import Queue
from joblane.backends.postgres import PostgresBackend
from joblane.backends.postgres.enqueue import insert
from joblane.backends.postgres.records import is_new, new_jobs_arrays
from joblane.core.identity import Identity
from joblane.core.job import JobRecord
from joblane.core.states import JobStatus
from tests.jobs import sample as tasks


def _batch(queue: Queue, count: int, **options: Any) -> list[JobRecord]:
    return queue._build_many(
        [Queue.prepare_data(tasks.add, (i, 1), **options) for i in range(count)]
    )


def test_a_batch_of_new_jobs_binds_its_shared_options_once(pg: PostgresBackend) -> None:
    queue = Queue("q", backend=pg)
    jobs = _batch(queue, 3, ttl=600, job_timeout=7, result_ttl=9, meta={"k": "v"})
    statement, params = insert(pg.q, jobs)
    assert statement == pg.q.insert_new_jobs
    assert params["ids"] == [job.id for job in jobs]
    assert params["ttl"] == 600
    assert pg.enqueue(jobs) == jobs
    assert pg.get_many([job.id for job in jobs]) == jobs
    assert [job.id for job in pg.list_queued("q")] == [job.id for job in jobs]


def test_jobs_at_the_front_go_there_in_batch_order(pg: PostgresBackend) -> None:
    queue = Queue("q", backend=pg)
    back = _batch(queue, 2)
    front = _batch(queue, 2, at_front=True)
    assert insert(pg.q, front)[0] == pg.q.insert_new_jobs
    pg.enqueue(back)
    pg.enqueue(front)
    order = [job.id for job in pg.list_queued("q")]
    assert order == [front[1].id, front[0].id, back[0].id, back[1].id]


def test_a_batch_of_scheduled_new_jobs(pg: PostgresBackend) -> None:
    queue = Queue("q", backend=pg)
    now = pg.now()
    jobs = [
        dataclasses.replace(job, status=JobStatus.SCHEDULED, enqueued=None, scheduled=now + i)
        for i, job in enumerate(_batch(queue, 3), start=100)
    ]
    assert insert(pg.q, jobs)[0] == pg.q.insert_new_jobs
    pg.enqueue(jobs)
    assert pg.get_many([job.id for job in jobs]) == jobs
    assert pg.list_queued("q") == []


def test_a_batch_whose_options_differ_takes_the_full_form(pg: PostgresBackend) -> None:
    queue = Queue("q", backend=pg)
    one = _batch(queue, 2)
    other = _batch(queue, 2, ttl=60)
    named = [dataclasses.replace(one[0], enqueued_by=Identity("someone"))]
    for jobs in ([*one, *other], [*one, *named]):
        assert new_jobs_arrays(jobs) is None
        assert insert(pg.q, jobs)[0] == pg.q.insert_jobs
    jobs = [*one, *other]
    pg.enqueue(jobs)
    assert pg.get_many([job.id for job in jobs]) == jobs


def test_a_job_that_ran_before_is_stored_whole(pg: PostgresBackend) -> None:
    queue = Queue("q", backend=pg)
    ran = [
        dataclasses.replace(job, attempts=2, lost_attempts=1, last_job_result="Traceback")
        for job in _batch(queue, 3)
    ]
    assert not is_new(ran[0])
    assert insert(pg.q, ran[:1])[0] == pg.q.insert_job
    assert insert(pg.q, ran)[0] == pg.q.insert_jobs
    assert new_jobs_arrays([*_batch(queue, 1), ran[0]]) is None
    pg.enqueue(ran[:1])
    pg.enqueue(ran[1:])
    assert pg.get_many([job.id for job in ran]) == ran


def test_one_new_job_leaves_the_defaults_to_its_columns(pg: PostgresBackend) -> None:
    queue = Queue("q", backend=pg)
    job = queue.build_call(tasks.add, (1, 2), meta={"a": 1}, at_front=True, ttl=30).record
    assert is_new(job)
    assert insert(pg.q, [job])[0] == pg.q.insert_new_job
    pg.enqueue([job])
    assert pg.get(job.id) == job
    assert [j.id for j in pg.list_queued("q")] == [job.id]
