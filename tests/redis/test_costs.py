"""What the Redis backend costs: round trips per operation, memory per job,
how fast an idle worker wakes and how little it asks while idle. The figures
are printed (``pytest -s``) and bounded loosely."""

from __future__ import annotations

import gc
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import redis

from joblane import JobStatus, Queue
from joblane.backends.redis import RedisBackend
from joblane.backends.redis import from_url as redis_from_url
from joblane.core.job import JobOptions, JobRecord, new_job
from joblane.core.outcome import Outcome, decide
from tests.jobs import sample
from tests.servers import RedisServer
from tests.worker.conftest import WorkerProcesses, wait_until

NOOP = "tests.jobs.sample.noop"


def _job(backend: RedisBackend, queue: str = "normal") -> JobRecord:
    return new_job(queue, NOOP, [], {}, JobOptions(), now=backend.now())


@pytest.fixture
def bare_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


class RoundTrips:
    """Counts what this process sends to Redis: one packed send is one round trip."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = redis.connection.AbstractConnection.send_packed_command

        def counting(conn: Any, command: Any, check_health: bool = True) -> None:
            self.count += 1
            original(conn, command, check_health)  # type: ignore[no-untyped-call]

        monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counting)

    def during(self, action: Any) -> int:
        before = self.count
        action()
        return self.count - before


def test_every_operation_is_one_round_trip(
    redis_backend: RedisBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    b = redis_backend
    trips = RoundTrips(monkeypatch)
    now = b.now()
    assert trips.during(lambda: b.enqueue([_job(b) for _ in range(50)])) == 1
    assert trips.during(lambda: b.enqueue([_job(b)])) == 1
    claimed: list[JobRecord] = []
    assert trips.during(lambda: claimed.extend(b.claim(
        ["important", "normal"], worker="w", limit=20, lease_seconds=30, now=now)[1]
    )) == 1  # fmt: skip
    done = [decide(j, j.lease_token or "", Outcome.success(b"1"), now) for j in claimed]
    assert trips.during(lambda: b.claim(
        ["normal"], worker="w", limit=5, lease_seconds=30, now=now, settle=done[:10])
    ) == 1  # fmt: skip
    assert trips.during(lambda: b.settle(done[10:], now)) == 1
    ids = [j.id for j in claimed]
    for action in (
        lambda: b.get(ids[0]),
        lambda: b.get_many(ids),
        lambda: b.count("normal"),
        lambda: b.list_queued("normal"),
        lambda: b.renew([(ids[0], "x")], lease_seconds=5, now=now),
        lambda: b.expired_leases(now),
        lambda: b.promote_due(now),
        lambda: b.next_due(),
        lambda: b.purge_expired(now),
        lambda: b.queue_names(),
        lambda: b.now(),
    ):
        assert trips.during(action) <= 1
    assert trips.during(b.now) == 0  # Redis time without a round trip
    assert trips.during(lambda: b.wait_for_change(0)) <= 2  # the first wait subscribes
    assert trips.during(lambda: b.wait_for_change(0)) == 0


def test_a_thread_s_own_connection_goes_with_the_thread(bare_server: RedisServer) -> None:
    """Scripts' calls use a connection of the calling thread's own (Connection.lane):
    threads that come and go (one per request in some servers) must not pile them up."""
    client = bare_server.client()
    backend = redis_from_url(bare_server.url())
    queue = Queue("normal", backend=backend)

    def connected() -> int:
        return len(client.client_list())

    queue.enqueue(sample.add, 1, 1)
    before = connected()
    for batch in range(5):
        threads = [threading.Thread(target=queue.enqueue, args=(sample.add, batch, i))
                   for i in range(10)]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        del threads
        gc.collect()
    assert queue.count == 51
    assert connected() <= before + 2  # not 50 more
    backend.close()
    # Redis drops a closed client when it reads its end, not when the close returns.
    wait_until(lambda: connected() < before, timeout=5, what="the closed connections gone")


def test_rates_on_a_local_redis(bare_server: RedisServer) -> None:
    b = redis_from_url(bare_server.url())
    count = 2000
    started = time.perf_counter()
    for _ in range(count):
        b.enqueue([_job(b)])
    one_by_one = count / (time.perf_counter() - started)
    jobs = [_job(b) for _ in range(count * 5)]
    started = time.perf_counter()
    for i in range(0, len(jobs), 100):
        b.enqueue(jobs[i : i + 100])
    batched = len(jobs) / (time.perf_counter() - started)
    now = b.now()
    started = time.perf_counter()
    pending: list[Any] = []
    taken = 0
    while True:
        _, claimed = b.claim(["normal"], worker="w", limit=1, lease_seconds=30, now=now,
                             settle=pending)  # fmt: skip
        pending = [decide(j, j.lease_token or "", Outcome.success(b"null"), now) for j in claimed]
        taken += len(claimed)
        if not claimed or taken >= count:
            break
    single_claims = taken / (time.perf_counter() - started)
    started = time.perf_counter()
    batched_taken = 0
    while True:
        _, claimed = b.claim(["normal"], worker="w", limit=50, lease_seconds=30, now=now,
                             settle=pending)  # fmt: skip
        pending = [decide(j, j.lease_token or "", Outcome.success(b"null"), now) for j in claimed]
        batched_taken += len(claimed)
        if not claimed:
            break
    batched_claims = batched_taken / (time.perf_counter() - started)
    print(
        f"\nRedis rates (one client, loopback): enqueue one by one {one_by_one:,.0f}/s, "
        f"in batches of 100 {batched:,.0f}/s; claim+settle one at a time "
        f"{single_claims:,.0f}/s, 50 at a time {batched_claims:,.0f}/s"
    )
    assert b.count("normal") == 0
    assert one_by_one > 500 and single_claims > 500
    b.close()


def test_memory_per_queued_noop_job(bare_server: RedisServer) -> None:
    # As bench/redis.py measures it: bench.tasks.noop(i) on queue "default",
    # 10,000 jobs enqueued one by one, used_memory after minus before.
    b = redis_from_url(bare_server.url())
    client = bare_server.client()

    def noop(i: int) -> JobRecord:
        return new_job("default", "bench.tasks.noop", [i], {}, JobOptions(), now=b.now())

    b.enqueue([noop(0)])  # the queue's keys exist before the measurement
    client.memory_purge()
    before = int(client.info("memory")["used_memory"])
    count = 10_000
    for i in range(count):
        b.enqueue([noop(i)])
    after = int(client.info("memory")["used_memory"])
    per_job = (after - before) / count
    one = b.list_queued("default", 0, 1)[0]
    hash_bytes = client.memory_usage(f"joblane:job:{one.id}", samples=0)
    buckets = [
        f"joblane:qb:{cast(bytes, n).decode()}:default"
        for n in client.zrange("joblane:qi:default", 0, -1)
    ]
    queue_bytes = sum(client.memory_usage(key, samples=0) or 0 for key in buckets) / (count + 1)
    print(
        f"\nmemory per queued no-op job: {per_job:.0f} bytes (INFO used_memory over "
        f"{count:,} jobs); its hash {hash_bytes} bytes, its queue entry {queue_bytes:.0f} bytes"
    )
    assert per_job < 250
    b.close()


@pytest.mark.slow
def test_an_idle_worker_wakes_at_once_and_asks_little(
    bare_server: RedisServer, tmp_path: Path
) -> None:
    url = bare_server.url()
    backend = redis_from_url(url)
    queue = Queue("normal", backend=backend)
    workers = WorkerProcesses(url, tmp_path)
    client = bare_server.client()
    try:
        workers.start("--concurrency", "1")
        first = queue.enqueue(sample.add, 1, 1)
        first.wait(10)
        time.sleep(1.5)  # idle
        client.config_resetstat()
        time.sleep(3.0)
        stats = client.info("commandstats")
        sent = sum(v["calls"] for k, v in stats.items() if k in _TOP_LEVEL)
        latencies = []
        for i in range(10):
            time.sleep(0.3)  # idle again, blocked in wait_for_change
            job = queue.enqueue(sample.add, i, 1)
            job.wait(10)
            assert job.status is JobStatus.FINISHED
            assert job.started_at is not None and job.enqueued_at is not None
            latencies.append((job.started_at - job.enqueued_at).total_seconds())
        median = statistics.median(latencies)
        print(
            f"\nidle worker: {sent / 3.0:.1f} commands/s to Redis; enqueue to start "
            f"median {median * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms"
        )
        assert median < 0.05  # the claim recheck would take up to 1 s
        assert sent / 3.0 < 8
    finally:
        workers.stop_all()
        backend.close()


# What an idle worker sends (commandstats also counts the commands that
# scripts run inside Redis, which are not round trips).
_TOP_LEVEL = {"cmdstat_fcall", "cmdstat_evalsha", "cmdstat_time"}
