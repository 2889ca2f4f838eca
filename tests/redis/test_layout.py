"""The version of the Redis key layout (``<prefix>version``): written under an
empty prefix, checked at start, upgraded by ``joblane migrate``."""

from __future__ import annotations

import time

import pytest
import redis

from joblane.backends.redis import from_url as redis_from_url
from joblane.backends.redis import layout, parse_url
from joblane.backends.redis.layout import LAYOUT_VERSION
from joblane.client import Queue
from joblane.core.states import JobStatus
from joblane.errors import BackendError, SchemaVersionError
from tests.cli.conftest import run_joblane


def raw_client(url: str) -> tuple[redis.Redis, str]:
    redis_url, options = parse_url(url)
    prefix: str = options["prefix"]
    return redis.Redis.from_url(redis_url), prefix


def test_a_new_prefix_gets_the_current_version(db_url: str) -> None:
    client, prefix = raw_client(db_url)
    assert client.get(prefix + "version") is None
    redis_from_url(db_url).close()
    assert client.get(prefix + "version") == str(LAYOUT_VERSION).encode()


def old_layout(client: redis.Redis, prefix: str, queued: int = 300) -> dict[str, str]:
    """Jobs stored as layout 2 stored them, with plain commands: *queued* jobs
    of ``tests.jobs.sample.add`` on queue ``normal`` (a ``queue:normal`` zset, positions
    from ``seq``, the first one without a timeout, the last at_front), and one
    finished job without a timeout. Returns names -> job ids."""
    now = time.time()
    pipe = client.pipeline()
    ids: dict[str, str] = {}
    for i in range(queued):
        job_id = f"q{i:04d}"
        fields: dict[str, str | bytes] = {
            "q": "normal", "f": "tests.jobs.sample.add", "p": b'{"args":[%d,1],"kwargs":{}}' % i,
            "s": "queued", "c": repr(now + i), "e": repr(now + i), "to": "180.0",
        }  # fmt: skip
        position = i + 1
        if i == 0:
            del fields["to"]  # layout 2: no timeout
            ids["no_timeout"] = job_id
        if i == queued - 1:
            fields["af"] = "1"
            position = -position
            ids["front"] = job_id
        pipe.hset(prefix + "job:" + job_id, mapping=fields)  # type: ignore[arg-type]
        pipe.zadd(prefix + "queue:normal", {job_id: position})
    pipe.set(prefix + "seq", queued)
    ended = {
        "q": "normal", "f": "operator.add", "p": b'{"args":[],"kwargs":{"a":1}}',
        "s": "finished", "c": repr(now), "e": repr(now), "st": repr(now), "en": repr(now),
        "r": b"3",
    }  # fmt: skip
    pipe.hset(prefix + "job:done", mapping=ended)  # type: ignore[arg-type]
    pipe.zadd(prefix + "reg:normal:finished", {"done": now})
    pipe.sadd(prefix + "queues", "normal")
    pipe.set(prefix + "version", 2)
    pipe.execute()
    ids["done"] = "done"
    return ids


def test_a_prefix_of_layout_1_is_refused_then_migrated(db_url: str) -> None:
    client, prefix = raw_client(db_url)
    ids = old_layout(client, prefix, queued=3)
    client.delete(prefix + "version")  # what joblane 0.1.0 left: its keys, no version
    with pytest.raises(SchemaVersionError, match="joblane migrate") as caught:
        redis_from_url(db_url)
    assert (caught.value.found, caught.value.expected) == (1, LAYOUT_VERSION)

    check = run_joblane("--url", db_url, "migrate", "--check")
    assert check.returncode == 1, check
    assert "layout version 1 -> 2" in check.stdout and "layout version 2 -> 3" in check.stdout
    assert client.get(prefix + "version") is None
    done = run_joblane("--url", db_url, "migrate")
    assert (done.returncode, done.stderr) == (0, ""), done
    assert done.stdout.startswith("migrated: ") and "layout version 1 -> 2" in done.stdout
    assert client.get(prefix + "version") == str(LAYOUT_VERSION).encode()
    again = run_joblane("--url", db_url, "migrate")
    assert "up to date" in again.stdout, again

    reopened = redis_from_url(db_url)
    try:
        assert reopened.count("normal") == 3
        assert [j.id for j in reopened.list_queued("normal")] == ["q0002", "q0000", "q0001"]
        done_job = reopened.get(ids["done"])
        assert done_job is not None and done_job.status is JobStatus.FINISHED
        assert done_job.job_timeout is None and done_job.result == b"3"
    finally:
        reopened.close()


def test_a_prefix_of_layout_2_is_migrated_to_buckets(db_url: str) -> None:
    client, prefix = raw_client(db_url)
    ids = old_layout(client, prefix)
    with pytest.raises(SchemaVersionError) as caught:
        redis_from_url(db_url)
    assert (caught.value.found, caught.value.expected) == (2, 3)
    # An interrupted migration: part of the queue moved, no count yet.
    client.eval(layout._MOVE_QUEUE, 1, prefix + "queue:normal", prefix, "normal", 100)
    assert client.zcard(prefix + "queue:normal") == 200

    done = run_joblane("--url", db_url, "migrate")
    assert (done.returncode, done.stderr) == (0, ""), done
    assert "layout version 2 -> 3" in done.stdout
    assert client.get(prefix + "version") == b"3"
    assert not client.exists(prefix + "queue:normal")
    assert client.zrange(prefix + "qi:normal", 0, -1) == [b"-3", b"0", b"1", b"2"]

    backend = redis_from_url(db_url)
    try:
        assert backend.count("normal") == 300
        order = [f"q{i:04d}" for i in (299, *range(299))]
        assert [j.id for j in backend.list_queued("normal", 0, 1000)] == order
        assert [j.id for j in backend.list_queued("normal", 250, 100)] == order[250:]
        first = backend.get(ids["no_timeout"])
        assert first is not None and first.job_timeout is None
        second = backend.get("q0001")
        assert second is not None and second.job_timeout == 180.0
        assert second.payload == b'{"args":[1,1],"kwargs":{}}'
        done_job = backend.get(ids["done"])
        assert done_job is not None and done_job.job_timeout is None
        assert done_job.payload == b'{"args":[],"kwargs":{"a":1}}'
        # Taken off the queue in one step (its position is in its hash).
        canceled = backend.cancel("q0005", backend.now())
        assert canceled.status is JobStatus.CANCELED and backend.count("normal") == 299
        assert backend.delete("q0006") and backend.count("normal") == 298
        worked = run_joblane(
            "--url",
            db_url,
            "worker",
            "--burst",
            "-q",
            "normal",
            "--import",
            "tests.jobs.sample",
            timeout=120,
        )
        assert worked.returncode == 0, worked
        assert backend.count("normal") == 0 and not client.exists(prefix + "qi:normal")
        ran = backend.get(ids["front"])
        assert ran is not None and ran.status is JobStatus.FINISHED and ran.result == b"300"
        ran = backend.get(ids["no_timeout"])
        assert ran is not None and ran.status is JobStatus.FINISHED and ran.job_timeout is None
    finally:
        backend.close()


def test_a_newer_layout_is_refused(db_url: str) -> None:
    client, prefix = raw_client(db_url)
    client.set(prefix + "version", LAYOUT_VERSION + 1)
    with pytest.raises(SchemaVersionError, match="upgrade joblane"):
        redis_from_url(db_url)
    failed = run_joblane("--url", db_url, "migrate")
    assert failed.returncode == 1 and "upgrade joblane" in failed.stderr, failed


def test_a_version_key_that_is_not_a_number_is_a_backend_error(db_url: str) -> None:
    client, prefix = raw_client(db_url)
    client.set(prefix + "version", "two")
    with pytest.raises(BackendError, match="not a layout version"):
        redis_from_url(db_url)


def test_queues_of_one_url_share_a_backend(db_url: str) -> None:
    first, second = Queue("a", url=db_url), Queue("b", url=db_url)
    try:
        assert first.backend is second.backend
    finally:
        first.backend.close()
    replaced = Queue("a", url=db_url).backend
    assert replaced is not first.backend
    replaced.close()
