"""``redact_url``: a backend URL as messages, log lines and reprs show it."""

from __future__ import annotations

import pytest

from joblane.config import redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:secret@h/0?retry_for=abc", "redis://:***@h/0?retry_for=abc"),
        ("redis://user:secret@h:6379/0", "redis://user:***@h:6379/0"),
        ("rediss://user:@h:6380/0", "rediss://user:***@h:6380/0"),
        ("unix://user:secret@/run/redis.sock?db=1", "unix://user:***@/run/redis.sock?db=1"),
        # credentials in options
        ("unix:///run/redis.sock?password=secret&db=1", "unix:///run/redis.sock?password=***&db=1"),
        (
            "rediss://h/0?ssl_password=secret&ssl_keyfile=/k.pem",
            "rediss://h/0?ssl_password=***&ssl_keyfile=/k.pem",
        ),
        ("redis://h/0?token=secret&api_key=secret", "redis://h/0?token=***&api_key=***"),
        # a password with an unencoded @ / ? or #, a bad port, no scheme
        ("redis://:se@cret@h/0", "redis://:***@h/0"),
        ("redis://:se/cret@h/0", "redis://:***@h/0"),
        ("redis://:se?cret@h/0", "redis://:***@h/0"),
        ("redis://:se#cret@h/0", "redis://:***@h/0"),
        ("redis://:secret@h:abc/0", "redis://:***@h:abc/0"),
        ("redis://:secret@[::1/0", "redis://:***@[::1/0"),
        (":secret@h/0", ":***@h/0"),
        # nothing to hide
        ("redis://user@h/0", "redis://user@h/0"),
        ("redis://[::1]:6379/0", "redis://[::1]:6379/0"),
        ("redis://h:6379/0?client_name=a@b", "redis://h:6379/0?client_name=a@b"),
        ("sqlite:////srv/a:b@c.db?durability=normal", "sqlite:////srv/a:b@c.db?durability=normal"),
        ("sqlite:///jobs.db", "sqlite:///jobs.db"),
        ("memory://", "memory://"),
        ("jobs.db", "jobs.db"),
        ("", ""),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert redact_url(shown) == shown
