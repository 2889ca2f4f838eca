"""Faults with real processes: Redis restarted mid-run, workers killed mid-job,
Redis unreachable, out of memory, an evicting policy. Every job accounted for."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from pathlib import Path

import pytest

from joblane import JobStatus, Queue, Retry
from joblane.backends.redis import RedisBackend
from joblane.backends.redis import from_url as redis_from_url
from joblane.core.job import JobOptions, new_job
from joblane.core.outcome import Outcome, decide
from joblane.errors import BackendError, ConfigurationError
from tests.jobs import sample
from tests.servers import RedisServer
from tests.worker.conftest import WorkerProcesses, wait_until

from .accounting import check_one_place_each

pytestmark = pytest.mark.slow

PREFIX = "f:"


def test_redis_restart_and_worker_kill_lose_no_job(own_server: RedisServer, tmp_path: Path) -> None:
    url = own_server.url(prefix=PREFIX, retry_for="30")
    backend = redis_from_url(url)
    normal, victims = Queue("normal", backend=backend), Queue("victims", backend=backend)
    ran = tmp_path / "ran.log"
    workers = WorkerProcesses(url, tmp_path)
    try:
        workers.start("--concurrency", "2", "--queues", "normal")
        workers.start("--concurrency", "2", "--queues", "normal")
        # Four jobs that are running when Redis goes away, and end while it is away.
        long = [normal.enqueue(sample.sleep, 1.5, retry=Retry(max=2)) for _ in range(4)]
        accepted = [normal.enqueue(sample.touch, str(ran), f"a{i}") for i in range(50)]
        wait_until(lambda: all(j.get_status() is JobStatus.STARTED for j in long),
                   what="the long jobs to start")  # fmt: skip

        own_server.stop(signal.SIGKILL)  # a crash: only the AOF survives
        during: list[str] = []
        producer = threading.Thread(
            target=lambda: during.extend(
                normal.enqueue(sample.touch, str(ran), f"d{i}").id for i in range(20)
            )
        )
        producer.start()  # blocks in its retries until Redis is back
        time.sleep(2.0)  # the long jobs end meanwhile
        own_server.start()
        producer.join(40)
        assert len(during) == 20

        accepted += [normal.enqueue(sample.touch, str(ran), f"b{i}") for i in range(100)]
        # A worker killed mid-job: its job is recovered once its lease lapses.
        pid_file = tmp_path / "pid"
        victim = victims.enqueue(sample.record_pid_and_sleep, str(pid_file), 3.0,
                                 retry=Retry(max=1))  # fmt: skip
        killed = workers.start("--queues", "victims", "--lease", "1", "--concurrency", "1")
        wait_until(pid_file.exists, what="the victim job to start")
        killed.send_signal(signal.SIGKILL)
        killed.wait(5)
        workers.start("--queues", "victims", "--lease", "1", "--concurrency", "1")

        everything = [*long, *accepted, victim]
        ids = [j.id for j in everything] + during
        wait_until(
            lambda: all(
                r is not None and r.status is JobStatus.FINISHED for r in backend.get_many(ids)
            ),
            timeout=60,
            what="every job to finish",
        )
        for job in long:
            job.refresh()
            assert job.attempts == 1  # ended during the outage, recorded once back
        victim.refresh()
        assert victim.attempts == 2 and "WorkerLostError" in (victim.last_job_result or "")
        texts = ran.read_text().split()
        assert set(texts) == {f"a{i}" for i in range(50)} | {f"b{i}" for i in range(100)} | {
            f"d{i}" for i in range(20)
        }
        statuses = check_one_place_each(own_server.client(), PREFIX)
        assert statuses == {"finished": len(ids)}
        assert "carrying on" in workers.log(0) + workers.log(1) or "retrying" in workers.log(0)
    finally:
        workers.stop_all()
        backend.close()


def test_a_producer_gets_a_clear_error_after_retry_for(
    own_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    backend = redis_from_url(own_server.url(retry_for="1"))
    queue = Queue("normal", backend=backend)
    own_server.stop(signal.SIGKILL)
    started = time.monotonic()
    with pytest.raises(BackendError, match=rf"127\.0\.0\.1:{own_server.port}.*retry_for"):
        queue.enqueue(sample.add, 1, 2)
    assert 0.9 <= time.monotonic() - started < 5
    own_server.start()
    job = queue.enqueue(sample.add, 1, 2)  # reconnects
    assert backend.get(job.id) is not None
    assert "retrying for up to 1 s" in caplog.text
    backend.close()


def test_a_job_finished_while_redis_is_away_is_recorded_when_it_is_back(
    own_server: RedisServer,
) -> None:
    backend = redis_from_url(own_server.url(retry_for="20"))
    backend.enqueue([new_job("normal", "tests.f", [], {}, JobOptions(), now=backend.now())])
    _, [job] = backend.claim(["normal"], worker="w", limit=1, lease_seconds=30, now=backend.now())
    assert job.lease_token
    own_server.stop(signal.SIGKILL)
    now = backend.now()  # no round trip: Redis time through the local clock
    done = decide(job, job.lease_token, Outcome.success(b"1"), now)
    threading.Timer(1.0, own_server.start).start()
    assert backend.settle([done], now) == [True]
    stored = backend.get(job.id)
    assert stored is not None and stored.status is JobStatus.FINISHED
    backend.close()


@pytest.mark.parametrize("policy", ["allkeys-lru", "allkeys-lfu", "allkeys-random"])
def test_an_evicting_policy_is_refused(tmp_path: Path, policy: str) -> None:
    server = RedisServer(tmp_path, extra=("--maxmemory-policy", policy)).start()
    try:
        with pytest.raises(ConfigurationError, match=f"maxmemory-policy {policy}.*noeviction"):
            redis_from_url(server.url())
    finally:
        server.stop()


def test_an_evicting_policy_is_accepted_when_overridden_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = RedisServer(tmp_path, extra=("--maxmemory-policy", "allkeys-lru")).start()
    try:
        with caplog.at_level(logging.WARNING, logger="joblane.redis"):
            backend = redis_from_url(server.url(allow_eviction="1"))
        assert "allkeys-lru" in caplog.text and "allow_eviction=1" in caplog.text
        backend.close()
        for policy in ("noeviction", "volatile-lru"):  # no joblane key has a TTL
            server.client().config_set("maxmemory-policy", policy)
            redis_from_url(server.url()).close()
    finally:
        server.stop()


def test_out_of_memory_enqueue_raises_and_stores_nothing(tmp_path: Path) -> None:
    server = RedisServer(
        tmp_path, extra=("--maxmemory", "4mb", "--maxmemory-policy", "noeviction")
    ).start()
    backend: RedisBackend = redis_from_url(server.url(retry_for="1"))
    try:
        stored: list[str] = []
        payload = "x" * 20_000
        with pytest.raises(BackendError, match=r"out of memory.*nothing was stored"):
            for i in range(2_000):
                batch = [
                    new_job("normal", "tests.f", [payload, i, k], {}, JobOptions(),
                            now=backend.now())
                    for k in range(5)
                ]  # fmt: skip
                backend.enqueue(batch)
                stored += [job.id for job in batch]
        assert stored, "Redis refused the very first batch"
        # Every batch that returned is stored, and nothing of the refused one.
        assert backend.count("normal") == len(stored)
        assert check_one_place_each(server.client(), "joblane:") == {"queued": len(stored)}
        # Workers still drain the queue while Redis is full (allow-oom scripts).
        now = backend.now()
        _, jobs = backend.claim(["normal"], worker="w", limit=10, lease_seconds=30, now=now)
        assert len(jobs) == 10
        flags = backend.settle(
            [decide(j, j.lease_token or "", Outcome.success(b"1"), now) for j in jobs], now
        )
        assert flags == [True] * 10
    finally:
        backend.close()
        server.stop()


def test_a_worker_carries_on_through_an_outage_longer_than_retry_for(
    own_server: RedisServer, tmp_path: Path
) -> None:
    url = own_server.url(retry_for="1")
    backend = redis_from_url(url)
    queue = Queue("normal", backend=backend)
    workers = WorkerProcesses(url, tmp_path)
    try:
        worker = workers.start("--concurrency", "2", "--lease", "10")
        running = [queue.enqueue(sample.sleep, 1.0) for _ in range(2)]
        wait_until(lambda: all(j.get_status() is JobStatus.STARTED for j in running),
                   what="the jobs to start")  # fmt: skip
        own_server.stop(signal.SIGKILL)
        time.sleep(3.5)  # the jobs end; the worker's calls give up (retry_for=1) and it waits
        assert worker.poll() is None
        own_server.start()
        for job in running:
            job.wait(15)
            assert job.status is JobStatus.FINISHED and job.attempts == 1
        assert queue.enqueue(sample.add, 2, 2).wait(10).return_value == 4
        assert "carrying on" in workers.log(0)
        assert check_one_place_each(own_server.client(), "joblane:") == {"finished": 3}
    finally:
        workers.stop_all()
        backend.close()


def test_the_library_is_loaded_again_after_a_function_flush(redis_backend: RedisBackend) -> None:
    client = redis_backend._conn.client
    client.function_flush()  # as after a restart of Redis without persistence
    job = new_job("normal", "tests.f", [], {}, JobOptions(), now=redis_backend.now())
    assert redis_backend.enqueue([job]) == [job]
    client.function_flush()
    assert redis_backend.list_queued("normal") == [job]  # a no-writes function too
    client.function_flush()
    later = new_job("normal", "tests.f", [], {}, JobOptions(), now=redis_backend.now())

    async def enqueue_async() -> None:
        assert await redis_backend.aenqueue([later]) == [later]
        await redis_backend.aclose()

    asyncio.run(enqueue_async())
    assert [j.id for j in redis_backend.list_queued("normal")] == [job.id, later.id]
    assert len(client.function_list()) == 1
