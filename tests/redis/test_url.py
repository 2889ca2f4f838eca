"""Redis URLs: joblane's options taken out and checked, redis-py's passed on."""

from __future__ import annotations

from pathlib import Path

import pytest

from joblane import Queue
from joblane.backends.redis import RedisBackend, parse_url
from joblane.backends.redis import from_url as redis_from_url
from joblane.cli import main
from joblane.config import backend_from_url, redact_url
from joblane.core.job import JobOptions, new_job
from joblane.errors import BackendError, ConfigurationError
from tests.servers import RedisServer, shared_redis


def test_joblane_options_are_taken_out_and_redis_options_kept() -> None:
    url, options = parse_url(
        "redis://:pw@h:7000/3?prefix=shop:&retry_for=2.5&allow_eviction=1&socket_timeout=4"
    )
    assert url == "redis://:pw@h:7000/3?socket_timeout=4"
    assert options == {"prefix": "shop:", "retry_for": 2.5, "allow_eviction": True}
    assert parse_url("unix:///run/redis.sock?db=2")[0] == "unix:///run/redis.sock?db=2"
    assert parse_url("rediss://h/0")[1] == {
        "prefix": "joblane:", "retry_for": 10.0, "allow_eviction": False,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://h/0?colour=red", "unknown option 'colour'"),
        ("redis://h/0?retry_for=soon", "retry_for must be a number"),
        ("redis://h/0?retry_for=-1", "retry_for must be >= 0"),
        ("redis://h/0?allow_eviction=maybe", "allow_eviction must be 0 or 1"),
        ("redis://h/0?prefix=", "must not be empty"),
        ("http://h/0", "not a Redis URL"),
    ],
)
def test_bad_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_url(url)


def test_messages_never_show_the_password() -> None:
    assert redact_url("redis://user:secret@h:6379/0") == "redis://user:***@h:6379/0"
    assert redact_url("redis://:secret@h/0") == "redis://:***@h/0"
    with pytest.raises(ConfigurationError) as raised:
        parse_url("redis://:secret@h/0?colour=red")
    assert "secret" not in str(raised.value)


def test_joblane_url_opens_the_redis_backend() -> None:
    url = shared_redis().url(prefix="url-test:")
    backend = backend_from_url(url)
    assert isinstance(backend, RedisBackend)
    assert backend.url == url and backend.prefix == "url-test:"
    backend.close()


def test_a_unix_socket_url_works(tmp_path: Path) -> None:
    socket_path = tmp_path / "redis.sock"
    server = RedisServer(tmp_path, extra=("--unixsocket", str(socket_path))).start()
    try:
        backend = backend_from_url(f"unix://{socket_path}?db=1&prefix=sock:")
        [job] = backend.enqueue([new_job("normal", "tests.f", [1], {}, JobOptions(), now=0.0)])
        assert backend.get(job.id) == job
        assert server.client().exists("sock:job:" + job.id) == 0  # db 1, not db 0
        backend.close()
    finally:
        server.stop()


PASSWORD = "s3cret-pw"


def test_a_redis_with_a_password_never_shows_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    server = RedisServer(tmp_path).start()
    try:
        server.client().config_set("requirepass", PASSWORD)
        url = f"redis://:{PASSWORD}@127.0.0.1:{server.port}/0?prefix=pw:"
        shown = f"redis://:***@127.0.0.1:{server.port}/0?prefix=pw:"
        backend = backend_from_url(url)
        try:
            assert backend.url == shown
            assert PASSWORD not in repr(backend) + repr(Queue("normal", backend=backend))
        finally:
            backend.close()

        assert main(["--url", url, "info"]) == 0
        out, err = capsys.readouterr()
        assert f"Queues ({shown})" in out.replace("\n", "")
        assert PASSWORD not in out + err

        wrong = url.replace(PASSWORD, PASSWORD + "-wrong")
        assert main(["--url", wrong, "info"]) == 1
        out, err = capsys.readouterr()
        assert f"Redis at redis://:***@127.0.0.1:{server.port}/0 refused us" in err
        assert PASSWORD not in out + err
    finally:
        server.stop()
    with pytest.raises(BackendError) as raised:  # the server is gone: retried, logged
        backend_from_url(url.replace("prefix=pw:", "retry_for=0.1"))
    assert "did not answer" in str(raised.value)
    assert "retrying for up to" in caplog.text
    assert PASSWORD not in str(raised.value) + caplog.text


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, (5.0, 5.0)),  # joblane's default, whatever redis-py's is
        ({"socket_timeout": "1.5", "socket_connect_timeout": "0.5"}, (1.5, 0.5)),
        ({"socket_timeout": "30", "retry_for": "2"}, (2.0, 2.0)),  # never past retry_for
    ],
)
def test_socket_timeouts_are_set_and_capped_by_retry_for(
    options: dict[str, str], expected: tuple[float, float]
) -> None:
    backend = redis_from_url(shared_redis().url(0, prefix="timeouts:", **options))
    kwargs = backend._conn.client.connection_pool.connection_kwargs
    assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == expected
    backend.close()


@pytest.mark.parametrize("value", ["0", "-1", "soon", "inf"])
def test_a_bad_socket_timeout_is_refused(value: str) -> None:
    with pytest.raises(ConfigurationError, match=f"socket_timeout must be .*{value}"):
        redis_from_url(f"redis://127.0.0.1:1/0?socket_timeout={value}")
