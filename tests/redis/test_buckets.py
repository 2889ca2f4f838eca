"""A queue held in buckets of 128 positions (keys.py, layout 3): the claim
order, pages, counts and every way off the queue across bucket boundaries,
and no bucket or index left behind once a queue is empty."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from joblane.backends.redis import RedisBackend, parse_url
from joblane.core.job import JobRecord
from joblane.core.states import JobStatus
from joblane.testing import ManualClock
from tests.contract.helpers import claim, make_job

from .accounting import check_one_place_each


@pytest.fixture(name="backend")
def _backend(clocked_backend: RedisBackend) -> RedisBackend:
    return clocked_backend


@pytest.fixture
def client(db_url: str) -> Iterator[redis.Redis]:
    redis_url, _ = parse_url(db_url)
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def fill(backend: RedisBackend, clock: ManualClock, count: int, **options: Any) -> list[str]:
    jobs = [make_job(clock, "normal", i, **options) for i in range(count)]
    return [job.id for job in backend.enqueue(jobs)]


def ids(jobs: list[JobRecord]) -> list[str]:
    return [job.id for job in jobs]


def text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def buckets(client: redis.Redis, prefix: str) -> list[str]:
    return [text(b) for b in client.zrange(prefix + "qi:normal", 0, -1)]


def test_pages_counts_and_the_claim_order_across_buckets(
    backend: RedisBackend, clock: ManualClock, client: redis.Redis
) -> None:
    prefix = backend.prefix
    back = fill(backend, clock, 300)
    front = fill(backend, clock, 3, at_front=True)
    order = front[::-1] + back  # the latest at_front job first
    assert backend.count("normal") == 303
    assert len(buckets(client, prefix)) >= 4
    for key in client.scan_iter(match=prefix + "qb:*"):
        assert client.object("encoding", key) == b"listpack", key
    for start, limit in ((0, 50), (120, 20), (250, 100), (302, 5), (303, 5), (0, 1000)):
        assert ids(backend.list_queued("normal", start, limit)) == order[start : start + limit]

    canceled = backend.cancel(back[130], clock.now())
    assert canceled.status is JobStatus.CANCELED
    assert backend.delete(back[10])
    order = [i for i in order if i not in (back[130], back[10])]
    assert backend.count("normal") == 301
    assert ids(backend.list_queued("normal", 125, 10)) == order[125:135]
    check_one_place_each(client, prefix)

    taken = claim(backend, clock, limit=200)
    assert ids(taken) == order[:200]
    assert backend.count("normal") == 101
    stored = client.hgetall(prefix + "job:" + order[0])
    assert b"b" not in stored and stored[b"s"] == b"started"
    assert client.hget(prefix + "job:" + order[200], "b") is not None
    check_one_place_each(client, prefix)

    assert backend.empty("normal") == 101
    assert backend.count("normal") == 0
    assert buckets(client, prefix) == []
    assert list(client.scan_iter(match=prefix + "qb:*")) == []
    assert client.hget(prefix + "qcount", "normal") is None
    assert "normal" in backend.queue_names()  # its started jobs
    for job_id in [*ids(taken), back[130]]:  # the started jobs and the canceled one
        assert backend.delete(job_id)
    assert "normal" not in backend.queue_names()


def test_the_claim_skips_expired_jobs_over_a_whole_bucket(
    backend: RedisBackend, clock: ManualClock, client: redis.Redis
) -> None:
    expiring = fill(backend, clock, 200, ttl=5)
    kept = fill(backend, clock, 3)
    clock.advance(10)
    assert ids(claim(backend, clock, limit=10)) == kept
    assert backend.count("normal") == 200
    assert backend.purge_expired(clock.now()) == 200
    assert backend.count("normal") == 0 and buckets(client, backend.prefix) == []
    assert all(backend.get(job_id) is None for job_id in expiring)


def test_a_job_without_its_bucket_field_is_still_found(
    backend: RedisBackend, clock: ManualClock, client: redis.Redis
) -> None:
    # A hash edited by hand: cancel looks through the buckets for it.
    queued = fill(backend, clock, 200)
    client.hdel(backend.prefix + "job:" + queued[150], "b")
    assert backend.cancel(queued[150], clock.now()).status is JobStatus.CANCELED
    assert backend.count("normal") == 199
    assert queued[150] not in ids(backend.list_queued("normal", 0, 1000))
    check_one_place_each(client, backend.prefix)


def test_the_compact_hash_reads_back_every_form(
    backend: RedisBackend, clock: ManualClock, client: redis.Redis
) -> None:
    plain = backend.enqueue([make_job(clock, "normal", 7)])[0]
    stored = client.hgetall(backend.prefix + "job:" + plain.id)
    assert stored[b"g"] == b"[7]" and b"p" not in stored
    assert stored[b"e"] == b"=" and b"to" not in stored
    assert backend.get(plain.id) == plain
    assert plain.payload == b'{"args":[7],"kwargs":{}}' and plain.job_timeout == 180.0
    other = make_job(clock, "normal", job_timeout=None)
    other.payload = b'{"args":[],"kwargs":{"a":1}}'
    stored_other = backend.enqueue([other])[0]
    raw = client.hgetall(backend.prefix + "job:" + other.id)
    assert raw[b"p"] == other.payload and b"g" not in raw and raw[b"to"] == b""
    assert backend.get(other.id) == stored_other and stored_other.job_timeout is None
    clock.advance(1)
    taken = claim(backend, clock)
    assert [job.payload for job in taken] == [plain.payload, other.payload]
    assert [job.enqueued for job in taken] == [plain.created, other.created]


def test_a_bucket_of_another_type_skips_the_rest_of_its_queue(
    backend: RedisBackend,
    clock: ManualClock,
    client: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = [make_job(clock, "broken", i) for i in range(200)]
    first = ids(backend.enqueue(broken))
    served = ids(backend.enqueue([make_job(clock, "normal")]))
    second = buckets_of(client, backend.prefix, "broken")[1]
    client.delete(second)
    client.set(second, "not a sorted set")
    taken = ids(claim(backend, clock, ("broken", "normal"), limit=300))
    assert taken == first[:127] + served  # bucket 0 holds positions 1-127
    assert f"queue 'broken' skipped: its key {second} is a string" in caplog.text


def buckets_of(client: redis.Redis, prefix: str, queue: str) -> list[str]:
    return [f"{prefix}qb:{text(b)}:{queue}" for b in client.zrange(f"{prefix}qi:{queue}", 0, -1)]


def test_every_page_near_either_end_reads_as_the_queue_is_ordered(
    backend: RedisBackend, clock: ManualClock, client: redis.Redis
) -> None:
    # Pages are read from the nearer end of the queue: those near the end walk
    # the buckets backwards. Holes (cancel, delete, a claim from the front),
    # expired jobs still queued and at_front jobs (negative buckets) included.
    back = fill(backend, clock, 500)
    expiring = fill(backend, clock, 140, ttl=5)
    front = fill(backend, clock, 4, at_front=True)
    order = front[::-1] + back + expiring
    gone = {back[3], back[127], back[128], back[300], expiring[100]}
    for job_id in sorted(gone)[:3]:
        assert backend.cancel(job_id, clock.now()).status is JobStatus.CANCELED
    for job_id in sorted(gone)[3:]:
        assert backend.delete(job_id)
    clock.advance(10)  # the expiring jobs expire, still queued until purged
    order = [i for i in order if i not in gone]
    assert ids(claim(backend, clock, limit=2)) == order[:2]
    order = order[2:]
    total = len(order)
    assert backend.count("normal") == total == 637
    assert len(buckets(client, backend.prefix)) == 7  # -1, 0 .. 5
    starts = {*range(0, 12), *range(total // 2 - 3, total // 2 + 4), *range(total - 140, total + 3)}
    for start in sorted(starts):
        for limit in (1, 2, 5, 50, 130, 300):
            page = ids(backend.list_queued("normal", start, limit))
            assert page == order[start : start + limit], (start, limit)
    assert ids(backend.list_queued("normal", 0, 10_000)) == order
    check_one_place_each(client, backend.prefix)


def calls(client: redis.Redis, command: str) -> int:
    stats = client.info("commandstats").get(f"cmdstat_{command}", {})
    return int(stats.get("calls", 0))


def test_the_first_and_last_pages_read_a_few_buckets_at_any_length(
    backend: RedisBackend, clock: ManualClock, client: redis.Redis
) -> None:
    order = fill(backend, clock, 128 * 40 - 1)  # positions 1 .. 5119: 40 full buckets
    total = len(order)

    def zcards(start: int, limit: int) -> int:
        before = calls(client, "zcard")
        assert ids(backend.list_queued("normal", start, limit)) == order[start : start + limit]
        return calls(client, "zcard") - before

    assert zcards(0, 50) == 1
    assert zcards(total - 50, 50) == 1
    assert zcards(total - 200, 50) == 2  # past the last bucket's 128 jobs
    assert zcards(total - 1, 50) == 1
    assert zcards(total // 2, 50) <= 22  # the middle: half the buckets, from either end
