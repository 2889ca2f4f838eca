"""The throwaway PostgreSQL server of tests/servers.py itself: on its own port
(never 5432), a committed row survives a crash of the whole server and a
restart on the same port, and a fast stop does not wait for open clients."""

from __future__ import annotations

import signal
import time

import pytest

psycopg = pytest.importorskip("psycopg")

from tests.servers import PostgresServer, postgres_database, shared_postgres  # noqa: E402


def test_a_server_of_ones_own_survives_a_crash_and_restarts_on_its_port() -> None:
    server = PostgresServer().start()
    try:
        assert server.port != 5432 and server.port != shared_postgres().port
        name = server.create_database("crash")
        with psycopg.connect(server.dsn(name), autocommit=True) as conn:
            conn.execute("CREATE TABLE t (v TEXT)")
            conn.execute("INSERT INTO t VALUES ('kept')")
        client = psycopg.connect(server.dsn(name))
        port = server.port
        server.restart(signal.SIGKILL)  # every process of the server killed
        assert server.port == port
        with pytest.raises(psycopg.OperationalError):
            client.execute("SELECT 1")
        client.close()
        with psycopg.connect(server.dsn(name)) as conn:
            assert conn.execute("SELECT v FROM t").fetchall() == [("kept",)]
        idle = psycopg.connect(server.dsn(name))
        started = time.monotonic()
        server.stop()  # a fast shutdown: the idle client is disconnected
        assert time.monotonic() - started < 10
        idle.close()
    finally:
        server.remove()
    assert not server.directory.exists()


def test_databases_of_the_shared_server_are_apart() -> None:
    server, first = postgres_database()
    _, second = postgres_database()
    with psycopg.connect(server.dsn(first), autocommit=True) as conn:
        conn.execute("CREATE TABLE only_here (v INT)")
    with psycopg.connect(server.dsn(second)) as conn:
        found = conn.execute("SELECT to_regclass('only_here')").fetchone()
        assert found == (None,)
