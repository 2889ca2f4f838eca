"""Who may read the SQLite file: its owner only, unless ``file_mode`` says otherwise.

Each test sets the umask it needs (0022, the usual one, unless said) and puts
the process's own back afterwards.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from joblane import Queue
from joblane.backends.sqlite import SQLiteBackend, from_url, parse_url
from joblane.errors import ConfigurationError


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def modes(path: Path) -> dict[str, int]:
    """The permission bits of the database file, its -wal and its -shm."""
    return {
        suffix or "db": stat.S_IMODE(os.stat(f"{path}{suffix}").st_mode)
        for suffix in ("", "-wal", "-shm")
    }


def open_and_write(url: str) -> SQLiteBackend:
    """The backend of *url*, with one job enqueued (so that the WAL has content)."""
    backend = from_url(url)
    Queue("normal", backend=backend).enqueue("tests.jobs.sample.noop", "personal data")
    return backend


def test_a_new_file_and_its_wal_and_shm_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    backend = open_and_write(f"sqlite:///{path}")
    try:
        assert modes(path) == {"db": 0o600, "-wal": 0o600, "-shm": 0o600}
        assert backend.url == f"sqlite:///{path}"
    finally:
        backend.close()


@pytest.mark.parametrize("text", ["0660", "660", "0o660"])
def test_file_mode_sets_the_mode_exactly(tmp_path: Path, text: str) -> None:
    os.umask(0o077)  # the configured mode wins over the umask
    path = tmp_path / "jobs.db"
    backend = open_and_write(f"sqlite:///{path}?file_mode={text}")
    try:
        assert modes(path) == {"db": 0o660, "-wal": 0o660, "-shm": 0o660}
        assert backend.url == f"sqlite:///{path}?file_mode=0660"
        assert backend.file_mode == 0o660
    finally:
        backend.close()


def test_an_existing_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    SQLiteBackend(path).close()
    path.chmod(0o640)
    backend = open_and_write(f"sqlite:///{path}")
    try:
        assert modes(path) == {"db": 0o640, "-wal": 0o640, "-shm": 0o640}
    finally:
        backend.close()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rw", "file_mode must be an octal mode such as 0600 or 0660, not 'rw'"),
        ("0800", "file_mode must be an octal mode"),
        ("", "file_mode must be an octal mode"),
        ("0644", None),
        ("0400", "let the owner read and write, such as 0600 or 0660, not 0o400"),
        ("04600", "at most 0777"),
    ],
)
def test_file_mode_in_the_url_is_checked(tmp_path: Path, text: str, message: str | None) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}?file_mode={text}"
    if message is None:
        parse_url(url)
        from_url(url).close()
        return
    with pytest.raises(ConfigurationError, match=message):
        from_url(url)
    assert not (tmp_path / "jobs.db").exists()


@pytest.mark.parametrize("mode", ["0600", 1.5, True, -1])
def test_file_mode_must_be_an_int_mode(tmp_path: Path, mode: object) -> None:
    with pytest.raises(ConfigurationError, match="file_mode must be"):
        SQLiteBackend(tmp_path / "jobs.db", file_mode=mode)  # type: ignore[arg-type]
