"""No password of a backend URL on the screen, whatever goes wrong with the URL."""

from __future__ import annotations

import pytest

from tests.cli.conftest import Cli, assert_one_error_line


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret-pw@h/0?retry_for=abc", "redis://:***@h/0?retry_for=abc"),
        ("redis://u:s3cret-pw@h/0?colour=red", "redis://u:***@h/0?colour=red"),
        ("redis://:s3cret-pw@h/0?prefix=", "must not be empty"),
        ("redis://:s3cret-pw@h:port/0", "redis://:***@h:port/0"),
        ("redis://:s3cret-pw@[::1/0", "redis://:***@[::1/0"),
        ("unix:///run/redis.sock?password=s3cret-pw", "password=***"),
        ("redis://:s3cret-pw@127.0.0.1:1/0?retry_for=0", "Redis at redis://:***@127.0.0.1:1/0"),
        ("sqlite://u:s3cret-pw@h/jobs.db", "sqlite://u:***@h/jobs.db"),
        ("sqlite://:s3cret-pw@/jobs.db", "'sqlite://:***@/jobs.db'"),
        ("sqlite:///jobs.db?busy_timeout=x&token=s3cret-pw", "token=***"),
        ("postgresql://u:s3cret-pw@h/db?pool_size=x", "postgresql://u:***@h/db?pool_size=x"),
        ("postgres://u:s3cret-pw@h/db?nosuch=1", "postgres://u:***@h/db?nosuch=1"),
        ("postgresql://u:s3cret-pw@127.0.0.1:1/db?retry_for=0", "postgresql://u:***@127.0.0.1:1"),
        ("mysql://u:s3cret-pw@h/jobs", "mysql://u:***@h/jobs"),
        ("u:s3cret-pw@h/jobs", "u:***@h/jobs"),
    ],
)
@pytest.mark.parametrize("command", [["info"], ["enqueue", "tests.jobs.sample.noop"]])
def test_errors_never_show_the_password(cli: Cli, url: str, shown: str, command: list[str]) -> None:
    cli.url = url
    result = cli(*command)
    assert "s3cret-pw" not in result.out + result.err
    assert_one_error_line(result, result.code, shown)
    assert result.code in (1, 2)
