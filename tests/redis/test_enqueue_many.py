"""The bulk path of an enqueue of several jobs (enqueue_many.lua): the same
stored state as the jobs enqueued one by one through enqueue.lua, with one
HSET a job and one ZADD a bucket; a taken id, a dependency or a scheduled job
goes to enqueue.lua, all or nothing either way."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import redis

from joblane import EnqueueOutcomeUnknownError, JobStatus, Queue
from joblane.backends.redis import RedisBackend
from joblane.backends.redis import from_url as redis_from_url
from joblane.backends.redis.records import _batch_args, batch_args
from joblane.core.job import JobOptions, JobRecord, new_jobs
from joblane.errors import DuplicateJobError, NoSuchJobError
from joblane.testing import ManualClock
from tests.contract.helpers import FUNC, claim, make_job
from tests.servers import RedisServer, shared_redis
from tests.worker.conftest import wait_until

from .accounting import check_one_place_each


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    c = shared_redis().client()
    yield c
    c.close()


@pytest.fixture
def pair(tmp_path: Path, clock: ManualClock) -> Iterator[tuple[RedisBackend, RedisBackend]]:
    """Two backends on the shared server, each under a prefix of its own."""
    server = shared_redis()
    name = tmp_path.name[-20:]
    bulk = redis_from_url(server.url(prefix=f"bulk-{name}:"), clock=clock)
    single = redis_from_url(server.url(prefix=f"single-{name}:"), clock=clock)
    yield bulk, single
    bulk.close()
    single.close()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def dump(client: redis.Redis, prefix: str) -> dict[str, Any]:
    """Every key under *prefix* (without it): its encoding and content, in
    Redis's own order (a hash's fields as stored)."""
    out: dict[str, Any] = {}
    for raw in client.scan_iter(match=prefix + "*", count=1000):
        key = _text(raw)
        kind = _text(client.type(key))
        if kind == "hash":
            content: Any = list(zip(client.hkeys(key), client.hvals(key), strict=True))
        elif kind == "zset":
            content = client.zrange(key, 0, -1, withscores=True)
        elif kind == "set":
            content = sorted(client.smembers(key))
        else:
            content = client.get(key)
        out[key.removeprefix(prefix)] = (kind, client.object("encoding", key), content)
    return out


def calls(client: redis.Redis, command: str) -> int:
    stats = client.info("commandstats").get(f"cmdstat_{command}", {})
    return int(stats.get("calls", 0))


def batches(clock: ManualClock) -> list[list[JobRecord]]:
    """Batches of every shape: the bulk path's (one shape, queued, no
    dependency) and enqueue.lua's."""
    plain = [make_job(clock, "normal", i) for i in range(300)]
    front = [make_job(clock, "normal", i, at_front=True) for i in range(5)]
    expiring = [make_job(clock, "normal", i, ttl=60, result_ttl=10) for i in range(140)]
    # ttl 5 and 5.0 are equal but written "5" and "5.0": each job's own value.
    mixed_types = [make_job(clock, "normal", ttl=5), make_job(clock, "normal", ttl=5)]
    mixed_types[1].ttl = cast(Any, 5.0)
    other_queue = [make_job(clock, "other", i, job_timeout=None, meta={"k": i}) for i in range(3)]
    two_queues = [make_job(clock, "normal", 1), make_job(clock, "other", 2)]
    with_kwargs = make_job(clock, "normal")
    with_kwargs.payload = b'{"args":[],"kwargs":{"a":1}}'
    shapes = [make_job(clock, "normal", 1), with_kwargs, make_job(clock, "normal", at_front=True)]
    return [plain, front, expiring, mixed_types, other_queue, two_queues, shapes]


def test_a_batch_is_stored_as_its_jobs_one_by_one(
    pair: tuple[RedisBackend, RedisBackend], clock: ManualClock, client: redis.Redis
) -> None:
    bulk, single = pair
    for batch in batches(clock):
        clock.advance(1)
        assert bulk.enqueue(batch) == batch
        for job in batch:
            assert single.enqueue([job]) == [job]
    stored = dump(client, bulk.prefix)
    assert stored == dump(client, single.prefix)
    assert stored["qcount"][2] == [(b"normal", b"451"), (b"other", b"4")]
    assert stored["qb:0:normal"][1] == b"listpack"
    assert len(bulk.list_queued("normal", 0, 1000)) == 451
    assert check_one_place_each(client, bulk.prefix) == {"queued": 455}


def built_together(clock: ManualClock) -> list[list[JobRecord]]:
    """Batches as enqueue_many builds them (new_jobs: the jobs share every
    field's object but their ids and payloads), and such batches with one job
    changed so that they no longer do."""

    def run(queue: str, calls: list[tuple[Any, Any]], **options: Any) -> list[JobRecord]:
        clock.advance(1)
        return new_jobs(queue, FUNC, calls, JobOptions(**options), now=clock.now())

    plain = run("normal", [((i,), {}) for i in range(300)])
    same_payload = run("normal", [((), {})] * 4)
    options = run("normal", [((i, "x"), {}) for i in range(140)], ttl=60, result_ttl=10,
                  job_timeout=None, retry=3, at_front=True)  # fmt: skip
    with_kwargs = run("other", [((i,), {"a": i}) for i in range(5)])
    with_meta = run("other", [((i,), {}) for i in range(3)], meta={"k": 1})
    one_with_kwargs = run("normal", [((i,), {}) for i in range(4)])
    one_with_kwargs[2].payload = b'{"args":[],"kwargs":{"a":1}}'
    one_compact = run("other", [((i,), {"a": i}) for i in range(4)])
    one_compact[1].payload = b'{"args":[1],"kwargs":{}}'
    # ttl 5 and 5.0 are equal but written "5" and "5.0": not the same object.
    equal_not_same = run("normal", [((i,), {}) for i in range(3)], ttl=5)
    equal_not_same[1].ttl = cast(Any, 5.0)
    created_apart = run("normal", [((i,), {}) for i in range(3)])
    created_apart[2].created = created_apart[2].enqueued = float(str(created_apart[0].created))
    # Ids too long for a listpack (over 64 bytes): the bucket is a skiplist either way.
    long_ids = [make_job(clock, "long", i, job_id=f"{i}-" + "x" * 70) for i in range(3)]
    return [plain, same_payload, options, with_kwargs, with_meta, one_with_kwargs, one_compact,
            equal_not_same, created_apart, long_ids]  # fmt: skip


def test_batches_built_together_are_stored_as_their_jobs_one_by_one(
    pair: tuple[RedisBackend, RedisBackend], clock: ManualClock, client: redis.Redis
) -> None:
    bulk, single = pair
    for batch in built_together(clock):
        assert bulk.enqueue(batch) == batch
        for job in batch:
            assert single.enqueue([job]) == [job]
    stored = dump(client, bulk.prefix)
    assert stored == dump(client, single.prefix)
    assert stored["qcount"][2] == [(b"normal", b"454"), (b"other", b"12"), (b"long", b"3")]
    assert stored["qb:0:normal"][1] == b"listpack"
    assert [v[1] for k, v in stored.items() if k.startswith("qb:") and k.endswith(":long")] == [
        b"skiplist"
    ]
    assert check_one_place_each(client, bulk.prefix) == {"queued": 469}


def test_a_batch_built_together_sends_each_job_s_id_and_payload_only(clock: ManualClock) -> None:
    batches = built_together(clock)
    for batch in batches[:3]:
        args = batch_args(batch)
        assert args is not None
        n = cast(int, args[0])
        names = args[1 : 1 + n]
        assert args[1 + n] == 1 and names[cast(int, args[2 + n]) - 1] == "g"  # one own value
        assert args[3 + 2 * n :: 2] == [job.id for job in batch]
        assert args[-1] == batch[-1].payload[len(b'{"args":') : -len(b',"kwargs":{}}')]
    # The same arguments as when each job's fields are compared column by column.
    for batch in [batches[0], *batches[2:]]:
        assert batch_args(batch) == _batch_args(batch)


def test_a_plain_batch_costs_one_hset_a_job_and_one_write_a_bucket(
    redis_backend: RedisBackend, client: redis.Redis
) -> None:
    queue = Queue("normal", backend=redis_backend)
    queue.enqueue_many([Queue.prepare_data("tests.jobs.sample.noop", (i,)) for i in range(2)])
    commands = ("hset", "zadd", "zunionstore", "hget")
    before = {command: calls(client, command) for command in commands}
    jobs = queue.enqueue_many(
        [Queue.prepare_data("tests.jobs.sample.noop", (i,)) for i in range(1000)]
    )
    spent = {command: calls(client, command) - n for command, n in before.items()}
    # Positions 3 .. 1002: buckets 0 .. 7, each with its index entry; bucket 0
    # held jobs already, 1 .. 7 are written whole (enqueue_many.lua's flush_run).
    assert spent == {"hset": 1000, "zadd": 16, "zunionstore": 7, "hget": 0}
    assert [job.id for job in queue.get_jobs(0, 1002)][2:] == [job.id for job in jobs]
    assert queue.count == 1002


def test_a_taken_id_goes_to_the_full_checks(
    clocked_backend: RedisBackend, clock: ManualClock, client: redis.Redis
) -> None:
    backend = clocked_backend
    done = make_job(clock, "normal")
    live = make_job(clock, "normal")
    backend.enqueue([done, live])
    claim(backend, clock, limit=1)  # `done` started
    backend.delete(done.id)
    backend.enqueue([done])
    before = dump(client, backend.prefix)

    # A live job's id: DuplicateJobError, nothing of the batch stored.
    fresh = [make_job(clock, "normal", i) for i in range(200)]
    with pytest.raises(DuplicateJobError):
        backend.enqueue([*fresh, make_job(clock, "normal", job_id=live.id)])
    assert dump(client, backend.prefix) == before
    # The same id twice in one batch, or a live one, with unique: the live job.
    again = make_job(clock, "normal", job_id=live.id)
    twice = make_job(clock, "normal", job_id=fresh[0].id)
    stored = backend.enqueue([*fresh, again, twice], unique=True)
    assert stored[:200] == fresh
    assert stored[200].id == live.id and stored[200].created == live.created
    assert stored[201] == fresh[0]
    assert backend.count("normal") == 202
    # A missing dependency: NoSuchJobError, nothing stored.
    before = dump(client, backend.prefix)
    with pytest.raises(NoSuchJobError):
        backend.enqueue([make_job(clock, "normal"), make_job(clock, "normal", depends_on=["nope"])])
    assert dump(client, backend.prefix) == before


def test_an_ended_job_s_id_is_replaced_in_a_batch(
    clocked_backend: RedisBackend, clock: ManualClock, client: redis.Redis
) -> None:
    backend = clocked_backend
    first = make_job(clock, "normal")
    backend.enqueue([first])
    assert backend.cancel(first.id, clock.now()).status is JobStatus.CANCELED
    clock.advance(1)
    batch = [make_job(clock, "normal", 1), make_job(clock, "normal", 2, job_id=first.id)]
    assert backend.enqueue(batch) == batch
    assert backend.get(first.id) == batch[1]
    assert [job.id for job in backend.list_queued("normal")] == [batch[0].id, first.id]
    assert check_one_place_each(client, backend.prefix) == {"queued": 2}


def test_a_lost_batch_enqueued_again_is_stored_once(own_server: RedisServer) -> None:
    from tests.redis.test_waits import frozen

    backend = redis_from_url(own_server.url(retry_for="1"))
    queue = Queue("normal", backend=backend)
    items = [Queue.prepare_data("tests.jobs.sample.noop", (i,), job_id=f"j{i}") for i in range(3)]
    try:
        queue.count  # noqa: B018  (connected)
        with frozen(own_server), pytest.raises(EnqueueOutcomeUnknownError) as raised:
            queue.enqueue_many(items)
        assert raised.value.job_ids == ["j0", "j1", "j2"]
        wait_until(lambda: queue.count == 3, what="the lost batch")
        again = queue.enqueue_many(items)  # recognised: no DuplicateJobError
        assert [job.id for job in again] == ["j0", "j1", "j2"]
        assert queue.count == 3
        assert check_one_place_each(own_server.client(), "joblane:") == {"queued": 3}
    finally:
        backend.close()


def test_aenqueue_takes_the_same_bulk_path(
    clocked_backend: RedisBackend, clock: ManualClock, client: redis.Redis
) -> None:
    backend = clocked_backend
    batch = [make_job(clock, "normal", i) for i in range(130)]

    async def main() -> list[JobRecord]:
        try:
            return await backend.aenqueue(batch)
        finally:
            await backend.aclose()

    before = calls(client, "hset")
    assert asyncio.run(main()) == batch
    assert calls(client, "hset") - before == 130
    assert [job.id for job in backend.list_queued("normal", 0, 200)] == [j.id for j in batch]
    with pytest.raises(DuplicateJobError):  # a taken id: enqueue.lua's refusal
        asyncio.run(main())
    assert backend.count("normal") == 130


def test_a_run_set_left_behind_is_not_taken_into_a_bucket(
    clocked_backend: RedisBackend, clock: ManualClock, client: redis.Redis
) -> None:
    backend = clocked_backend
    client.zadd(f"{backend.prefix}enqueue_many:run", {"stale": 5, "other": 7})
    batch = [make_job(clock, "normal", i) for i in range(200)]
    assert backend.enqueue(batch) == batch
    assert [job.id for job in backend.list_queued("normal", 0, 300)] == [j.id for j in batch]
    assert not client.exists(f"{backend.prefix}enqueue_many:run")
    assert check_one_place_each(client, backend.prefix) == {"queued": 200}
