"""The version of the Redis key layout (``<prefix>version``): written under an
empty prefix, checked at start, upgraded by ``joblane migrate``."""

from __future__ import annotations

import pytest
import redis

from joblane.backends.redis import RedisBackend, parse_url
from joblane.backends.redis import from_url as redis_from_url
from joblane.backends.redis.layout import LAYOUT_VERSION
from joblane.client import Queue
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


def test_a_prefix_of_layout_1_is_refused_then_migrated(
    redis_backend: RedisBackend, db_url: str
) -> None:
    job = Queue("normal", backend=redis_backend).enqueue("operator.add", 1, 2, meta={"a": 1})
    before = redis_backend.get(job.id)
    client, prefix = raw_client(db_url)
    client.delete(prefix + "version")  # what joblane 0.1.0 left: its keys, no version
    with pytest.raises(SchemaVersionError, match="joblane migrate") as caught:
        redis_from_url(db_url)
    assert (caught.value.found, caught.value.expected) == (1, LAYOUT_VERSION)

    check = run_joblane("--url", db_url, "migrate", "--check")
    assert check.returncode == 1, check
    assert "layout version 1 -> 2" in check.stdout
    assert client.get(prefix + "version") is None
    done = run_joblane("--url", db_url, "migrate")
    assert (done.returncode, done.stderr) == (0, ""), done
    assert done.stdout.startswith("migrated: ") and "layout version 1 -> 2" in done.stdout
    assert client.get(prefix + "version") == b"2"
    again = run_joblane("--url", db_url, "migrate")
    assert "up to date" in again.stdout, again

    reopened = redis_from_url(db_url)
    try:
        assert reopened.get(job.id) == before
    finally:
        reopened.close()


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
