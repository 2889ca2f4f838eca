"""Throwaway database servers for the tests: real ``redis-server`` and
PostgreSQL processes.

Never the machine's own Redis (6379) or PostgreSQL (5432) and never a fake: each
server is started
here from the installed binary, on a free port, with its files in a temporary
directory, and killed at the end. Where the binary is missing, the tests that
need it skip, naming the Debian package to install, unless the environment
says ``JOBLANE_REQUIRE_SERVERS=1`` (CI), where they fail instead.

* :func:`shared_redis` - one server for the whole test session (started on
  first use); tests keep apart by key prefix (:func:`redis_url_for`).
* :class:`RedisServer` - a server of one's own, to restart, kill or configure
  (persistence, maxmemory) in a fault test.
* :func:`shared_postgres` and :class:`PostgresServer` - the same for PostgreSQL
  (``initdb`` into a temporary directory, trust authentication); tests keep apart
  by database (:func:`postgres_database`, a new one from ``template0``). As root
  (``initdb`` refuses it) the server runs as ``nobody``.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
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


PG_MISSING = (
    "initdb is not installed: install the Debian package postgresql "
    "(apt-get install postgresql) to run the PostgreSQL tests"
)
PG_USER = "nobody"  # the server's user when the tests run as root


def postgres_bin_dir() -> Path | None:
    """The directory of ``initdb`` and ``postgres``: on PATH, else Debian's
    /usr/lib/postgresql/<version>/bin (newest version first); None if missing."""
    found = shutil.which("initdb")
    if found is not None:
        directory = Path(found).resolve().parent
        if (directory / "postgres").exists():
            return directory
    versions = Path("/usr/lib/postgresql").glob("*/bin/initdb")
    candidates = sorted(versions, key=lambda p: _version(p.parent.parent.name), reverse=True)
    for initdb in candidates:
        if (initdb.parent / "postgres").exists():
            return initdb.parent
    return None


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def postgres_bin() -> Path:
    """As :func:`postgres_bin_dir`; skips the test (fails it under
    JOBLANE_REQUIRE_SERVERS=1) where PostgreSQL is not installed."""
    directory = postgres_bin_dir()
    if directory is None:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{PG_MISSING} ({REQUIRE_ENV}=1)")
        pytest.skip(PG_MISSING)
    return directory


class PostgresServer:
    """A PostgreSQL server on 127.0.0.1 (a free port, never 5432) with its data
    and unix socket in *directory* (default: a new temporary directory, removed
    by :meth:`remove`). The directory must be reachable by the server's user:
    as root that is ``nobody``, who cannot enter pytest's ``tmp_path``.

    :meth:`stop` with SIGINT is a fast shutdown, with SIGKILL a crash of the
    whole server (the postmaster and its backends).
    """

    def __init__(self, directory: Path | None = None) -> None:
        self.bin = postgres_bin()
        self.directory = directory or Path(tempfile.mkdtemp(prefix="joblane-pg-"))
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.as_root = os.geteuid() == 0
        self._init()

    def _user(self) -> dict[str, Any]:
        """Popen arguments that run the server as PG_USER when we are root."""
        if not self.as_root:
            return {}
        return {"user": PG_USER, "group": _group_of(PG_USER), "extra_groups": []}

    def _init(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.as_root:
            shutil.chown(self.directory, PG_USER, _group_of(PG_USER))
        subprocess.run(
            [str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
             "--auth=trust", "-E", "UTF8", "--locale=C", "--no-instructions"],
            check=True, capture_output=True, cwd=self.directory, **self._user(),
        )  # fmt: skip

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def command(self) -> list[str]:
        return [
            str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port),
            "-h", "127.0.0.1", "-k", str(self.directory), "-c", "max_connections=50",
        ]  # fmt: skip

    def start(self) -> PostgresServer:
        log = open(self.directory / "postgres.log", "ab")  # noqa: SIM115  # the server's
        with log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=log, cwd=self.directory,
                start_new_session=True, **self._user(),
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(self.dsn(), connect_timeout=2).close()
                return self
            except psycopg.OperationalError:
                if self.process.poll() is not None:
                    text = (self.directory / "postgres.log").read_text(errors="replace")
                    raise RuntimeError(f"postgres exited at start:\n{text}") from None
                if time.monotonic() > deadline:
                    raise RuntimeError(f"postgres on port {self.port} did not start") from None
                time.sleep(0.05)

    def stop(self, sig: int = signal.SIGINT) -> None:
        """Stop the server (SIGINT: a fast shutdown; SIGKILL: a crash of every
        process of the server)."""
        if self.process is not None and self.process.poll() is None:
            if sig == signal.SIGKILL:
                os.killpg(self.process.pid, sig)
            else:
                self.process.send_signal(sig)
            self.process.wait(30)
        self.process = None

    def restart(self, sig: int = signal.SIGKILL, down_for: float = 0.0) -> None:
        """Stop the server, stay down *down_for* seconds, start it again on the same port."""
        self.stop(sig)
        time.sleep(down_for)
        self.start()

    def remove(self) -> None:
        """Stop the server (a crash: it is thrown away) and remove its directory."""
        self.stop(signal.SIGKILL)
        shutil.rmtree(self.directory, ignore_errors=True)

    def dsn(self, dbname: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname}"

    def url(self, dbname: str = "postgres", driver: str = "psycopg") -> str:
        """An SQLAlchemy URL (``postgresql+psycopg``; *driver* ``psycopg_async`` for asyncio)."""
        return f"postgresql+{driver}://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        """A new, empty database *name* (a copy of ``template0``); returns *name*."""
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return name


def _group_of(user: str) -> int:
    return pwd.getpwnam(user).pw_gid


_SHARED_PG: list[PostgresServer] = []
_DATABASES = iter(range(1, 1_000_000))


def shared_postgres() -> PostgresServer:
    """The session's PostgreSQL server, started on first use, removed at exit
    (skips, or fails under JOBLANE_REQUIRE_SERVERS=1, where it is not installed)."""
    if not _SHARED_PG:
        server = PostgresServer().start()
        _SHARED_PG.append(server)
        atexit.register(server.remove)
    return _SHARED_PG[0]


def postgres_database() -> tuple[PostgresServer, str]:
    """A new database of its own on the shared server: ``(server, name)``."""
    server = shared_postgres()
    return server, server.create_database(f"t{os.getpid()}_{next(_DATABASES)}")


def postgres_url_for(directory: Path, **options: str) -> str:
    """A ``postgresql://`` URL of the shared server with a schema of the test's own
    (named after its temporary directory, as :func:`prefix_for` names Redis prefixes)."""
    server = shared_postgres()
    schema = "t" + hashlib.sha1(str(directory).encode()).hexdigest()[:12]
    query = "&".join(f"{k}={v}" for k, v in {"schema": schema, **options}.items())
    return f"postgresql://postgres@127.0.0.1:{server.port}/postgres?{query}"


BOUNCER_MISSING = (
    "pgbouncer is not installed: install the Debian package pgbouncer "
    "(apt-get install pgbouncer) to run the PgBouncer tests"
)


def pgbouncer_binary() -> str:
    """The path of pgbouncer; skips the test (fails it under JOBLANE_REQUIRE_SERVERS=1)."""
    path = shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.path.exists(p)), None
    )
    if path is None:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{BOUNCER_MISSING} ({REQUIRE_ENV}=1)")
        pytest.skip(BOUNCER_MISSING)
    return path


class PgBouncer:
    """A pgbouncer process on 127.0.0.1 (a free port) in front of *server*, in
    *pool_mode* (``transaction`` or ``session``), no authentication, its files
    in a new temporary directory. As root it runs as ``nobody`` (pgbouncer
    refuses root)."""

    def __init__(self, server: PostgresServer, pool_mode: str = "transaction") -> None:
        self.binary = pgbouncer_binary()
        self.server = server
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="joblane-pgbouncer-"))
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.directory, PG_USER, _group_of(PG_USER))
        self.config = self.directory / "pgbouncer.ini"
        self.config.write_text(
            "[databases]\n"
            f"* = host=127.0.0.1 port={server.port} user=postgres\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = any\npool_mode = {pool_mode}\n"
            f"logfile = {self.directory / 'pgbouncer.log'}\n"
            f"pidfile = {self.directory / 'pgbouncer.pid'}\n"
            "default_pool_size = 4\nmax_client_conn = 200\n"
            "ignore_startup_parameters = extra_float_digits,options\n"
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> PgBouncer:
        user: dict[str, Any] = {}
        if self.as_root:
            user = {"user": PG_USER, "group": _group_of(PG_USER), "extra_groups": []}
        self.process = subprocess.Popen(
            [self.binary, str(self.config)], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, cwd=self.directory, **user,
        )  # fmt: skip
        deadline = time.monotonic() + 15
        while True:
            try:
                psycopg.connect(self.dsn(), connect_timeout=2, prepare_threshold=None).close()
                return self
            except psycopg.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log = self.directory / "pgbouncer.log"
                    text = log.read_text(errors="replace") if log.exists() else ""
                    raise RuntimeError(f"pgbouncer did not start:\n{text}") from None
                time.sleep(0.05)

    def dsn(self, dbname: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname}"

    def url(self, dbname: str = "postgres", **options: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in options.items())
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}" + (
            f"?{query}" if query else ""
        )

    def remove(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        shutil.rmtree(self.directory, ignore_errors=True)
