"""Throwaway database servers for the tests: real ``redis-server`` processes.

Never the machine's own Redis (6379) and never a fake: each server is started
here from the installed binary, on a free port, with its files in a temporary
directory, and killed at the end. Where the binary is missing, the tests that
need it skip, naming the Debian package to install, unless the environment
says ``JOBLANE_REQUIRE_SERVERS=1`` (CI), where they fail instead.

* :func:`shared_redis` - one server for the whole test session (started on
  first use); tests keep apart by key prefix (:func:`redis_url_for`).
* :class:`RedisServer` - a server of one's own, to restart, kill or configure
  (persistence, maxmemory) in a fault test.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import redis

REQUIRE_ENV = "JOBLANE_REQUIRE_SERVERS"
MISSING = (
    "redis-server is not installed: install the Debian package redis-server "
    "(apt-get install redis-server) to run the Redis tests"
)


def redis_server_binary() -> str:
    """The path of redis-server; skips the test (fails it under JOBLANE_REQUIRE_SERVERS=1)."""
    path = shutil.which("redis-server")
    if path is None:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{MISSING} ({REQUIRE_ENV}=1)")
        pytest.skip(MISSING)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class RedisServer:
    """A redis-server process on 127.0.0.1 with its data in *directory*.

    *persistent*: ``appendonly yes`` with ``appendfsync always`` (every
    accepted write is on disk before its reply), else no persistence at all.
    *extra*: more ``--name value`` arguments.
    """

    def __init__(
        self, directory: Path, *, persistent: bool = False, extra: tuple[str, ...] = ()
    ) -> None:
        self.directory = directory
        self.port = free_port()
        self.persistent = persistent
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None
        self.binary = redis_server_binary()

    def command(self) -> list[str]:
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "always"]
            if self.persistent
            else ["--appendonly", "no"]
        )
        return [
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            *persistence, "--dir", str(self.directory), "--daemonize", "no",
            "--logfile", str(self.directory / "redis.log"), *self.extra,
        ]  # fmt: skip

    def start(self) -> RedisServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        client = self.client()
        try:
            while True:
                try:
                    if client.ping():
                        return self
                except redis.exceptions.BusyLoadingError:
                    pass
                except redis.exceptions.ConnectionError:
                    if self.process.poll() is not None:
                        log = (self.directory / "redis.log").read_text(errors="replace")
                        raise RuntimeError(f"redis-server exited at start:\n{log}") from None
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server on port {self.port} did not start")
                time.sleep(0.01)
        finally:
            client.close()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the server (SIGTERM: a clean shutdown; SIGKILL: a crash)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(10)
        self.process = None

    def restart(self, sig: int = signal.SIGKILL, down_for: float = 0.0) -> None:
        """Stop the server, stay down *down_for* seconds, start it again on the same port."""
        self.stop(sig)
        time.sleep(down_for)
        self.start()

    def url(self, db: int = 0, **options: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in options.items())
        return f"redis://127.0.0.1:{self.port}/{db}" + (f"?{query}" if query else "")

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=10)


_SHARED: list[RedisServer] = []


def shared_redis() -> RedisServer:
    """The session's Redis server, started on first use, stopped at exit."""
    if not _SHARED:
        directory = Path(tempfile.mkdtemp(prefix="joblane-redis-"))
        server = RedisServer(directory).start()
        _SHARED.append(server)

        def stop() -> None:
            server.stop(signal.SIGKILL)
            shutil.rmtree(directory, ignore_errors=True)

        atexit.register(stop)
    return _SHARED[0]


def prefix_for(directory: Path) -> str:
    """A key prefix of its own for the test whose temporary directory this is."""
    return "t" + hashlib.sha1(str(directory).encode()).hexdigest()[:12] + ":"


def redis_url_for(directory: Path) -> str:
    """The shared server's URL with a key prefix of the test's own."""
    return shared_redis().url(prefix=prefix_for(directory))
