"""joblane on PostgreSQL against pgqueuer and procrastinate, same workload, one run.

    python -m bench.postgres --jobs 10000 --latency-samples 200

Starts ONE throwaway PostgreSQL cluster (``initdb`` of the installed server into a temporary
directory, a free port on 127.0.0.1, trust authentication; as root the server runs as
``nobody``, as ``tests/servers.py`` does it), never the machine's own PostgreSQL.  The server
runs with ``fsync=on`` and ``synchronous_commit=on``: every system's enqueue is durable when
it returns, the rule here.  Each system gets a database of its own, created empty, with its
schema installed by its own migration tool: ``joblane migrate``, ``pgqueuer install``,
``procrastinate schema --apply``.

Each peer runs from its own virtualenv (``bench/peers/setup_env.sh``, made on first use; no
peer is a dependency of joblane) as ``bench/peers/pg_<peer>.py`` with its database's DSN,
and prints one JSON object; the method is in ``bench/peers/pg_common.py``.  joblane's side is
``bench.sqlite.measure_joblane`` on a ``postgresql://`` URL, the same steps: N no-ops in one
``enqueue_many``; N enqueued one by one (the last a marker); a worker process gated after
start-up drains them, timed to the marker's start; then latency samples against the idle
worker.  Before each of joblane's enqueue steps its database is dropped, created again and
migrated (the peers empty their tables with TRUNCATE).

The ceiling for one-by-one durable enqueue is measured on the same server, before and after
the systems: one psycopg connection doing INSERT + COMMIT of a small row in a loop
(``commit_per_s``), and ``SELECT 1`` round trips in autocommit (``select1_per_s``).

The server is stopped at the end, also on errors and on SIGTERM.  Results: a table on
stdout, and the figures, the command and the machine in ``bench/results/postgres-<date>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.common import save_record
from bench.redis import _raise_on_sigterm, setup_venv, table
from bench.sqlite import measure_joblane

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PEERS = ("pgqueuer", "procrastinate")
# joblane's worker settings: its default here (max(2, CPUs) slot processes) and one slot.
JOBLANE_SETTINGS = ("concurrency=2", "concurrency=1")
JOBLANE_DEFAULT = "concurrency=2"
JOBLANE_SCHEMA = "joblane"
PEER_TIMEOUT_S = 1200.0
SERVER_SETTINGS = ("fsync=on", "synchronous_commit=on", "max_connections=100")


# --------------------------------------------------------------------------- the cluster


class Cluster:
    """A throwaway PostgreSQL cluster: ``tests/servers.py``'s :class:`PostgresServer` (its
    initdb, its free port, its unprivileged user under root) with the benchmark's settings."""

    def __init__(self) -> None:
        from tests.servers import PG_MISSING, PostgresServer, postgres_bin_dir

        if postgres_bin_dir() is None:
            raise RuntimeError(PG_MISSING)

        class Server(PostgresServer):
            def command(self) -> list[str]:
                settings = [arg for s in SERVER_SETTINGS for arg in ("-c", s)]
                return [*super().command(), *settings]

        self.server = Server(Path(tempfile.mkdtemp(prefix="bench-pg-")))
        self.port = self.server.port

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        """A fast shutdown (SIGINT), then the directory is removed (a kill if it hangs)."""
        try:
            self.server.stop(signal.SIGINT)
        except Exception:  # a hung server: kill it
            with contextlib.suppress(Exception):
                self.server.stop(signal.SIGKILL)
        self.server.remove()

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def fresh_database(self, name: str) -> str:
        """Drop *name* (ending its sessions) and create it again, empty; returns its DSN."""
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')  # type: ignore[arg-type]
        return self.dsn(name)

    def settings(self) -> dict[str, str]:
        import psycopg

        names = ("server_version", "fsync", "synchronous_commit", "wal_sync_method",
                 "shared_buffers", "wal_level", "max_connections")  # fmt: skip
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            return {n: str(conn.execute(f"SHOW {n}").fetchone()[0]) for n in names}  # type: ignore[index]


@contextlib.contextmanager
def postgres_cluster() -> Iterator[Cluster]:
    """A started throwaway cluster; stopped and removed on the way out, whatever happens."""
    cluster = Cluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


# --------------------------------------------------------------------------- the ceiling


def commit_rates(cluster: Cluster, n: int = 5_000) -> dict[str, float]:
    """Synchronous commits a second from one psycopg connection (INSERT of a small row, then
    COMMIT: the ceiling for anything that commits each enqueue on its own), and autocommit
    ``SELECT 1`` round trips a second (the ceiling for one round trip per job)."""
    import psycopg

    dsn = cluster.fresh_database("ceiling")
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TABLE t (id bigserial PRIMARY KEY, payload text NOT NULL)")
        conn.commit()
        insert, commit = conn.execute, conn.commit
        t0 = time.perf_counter()
        for i in range(n):
            insert("INSERT INTO t (payload) VALUES (%s)", (f"job {i}",))
            commit()
        commits = n / (time.perf_counter() - t0)
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.cursor()
        t0 = time.perf_counter()
        for _ in range(n):
            cur.execute("SELECT 1")
            cur.fetchone()
        selects = n / (time.perf_counter() - t0)
    return {"commit_per_s": round(commits), "select1_per_s": round(selects)}


# --------------------------------------------------------------------------- joblane


def joblane_url(cluster: Cluster) -> str:
    return f"postgresql://postgres@127.0.0.1:{cluster.port}/joblane?schema={JOBLANE_SCHEMA}"


def joblane_reset(cluster: Cluster, url: str) -> None:
    """A new empty database, migrated by ``joblane migrate`` (as a deploy does)."""
    cluster.fresh_database("joblane")
    done = subprocess.run([sys.executable, "-m", "joblane", "--url", url, "migrate"],
                          capture_output=True, text=True, cwd=ROOT)  # fmt: skip
    if done.returncode != 0:
        tail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["(no output)"]
        raise RuntimeError(f"joblane migrate failed: {tail[0]}")


def measure_joblane_pg(cluster: Cluster, jobs: int, samples: int, workdir: Path) -> dict[str, Any]:
    from importlib.metadata import version

    url = joblane_url(cluster)
    rounds = []
    for setting in JOBLANE_SETTINGS:
        concurrency = int(setting.removeprefix("concurrency="))
        figures = measure_joblane(jobs, samples, url, workdir, concurrency, 0,
                                  lambda: joblane_reset(cluster, url))  # fmt: skip
        rounds.append({"setting": setting, "default": setting == JOBLANE_DEFAULT,
                       "jobs": jobs, **figures})  # fmt: skip
    best = max(rounds, key=lambda r: r["drain_per_s"])
    default = next(r for r in rounds if r["default"])
    return {
        "name": "joblane",
        "version": version("joblane"),
        "jobs": jobs,
        "latency_samples": samples,
        "enqueue_one_per_s": statistics.median(r["enqueue_one_per_s"] for r in rounds),
        "enqueue_many_per_s": statistics.median(r["enqueue_many_per_s"] for r in rounds),
        "default_setting": JOBLANE_DEFAULT,
        "drain_default_per_s": default["drain_per_s"],
        "best_setting": best["setting"],
        "drain_best_per_s": best["drain_per_s"],
        "latency_p50_ms": default["latency_p50_ms"],
        "latency_p99_ms": default["latency_p99_ms"],
        "settings": rounds,
        "notes": {
            "settings": {
                "concurrency=2": "2 slot processes (joblane's default here: max(2, CPUs))",
                "concurrency=1": "1 slot process",
            },
            "url": url,
            "enqueue": "enqueue_one and enqueue_many: median of the settings' rounds",
            "psycopg": version("psycopg"),
        },
    }


# --------------------------------------------------------------------------- peers


def measure_peer(peer: str, dsn: str, jobs: int, samples: int, workdir: Path) -> dict[str, Any]:
    python = BENCH / ".venvs" / peer / "bin" / "python"
    cmd = [str(python), str(BENCH / "peers" / f"pg_{peer}.py"), "--dsn", dsn,
           "--jobs", str(jobs), "--latency-samples", str(samples),
           "--workdir", str(workdir / peer)]  # fmt: skip
    log = workdir / f"{peer}.stderr.log"
    with log.open("w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
        try:
            out, _ = proc.communicate(timeout=PEER_TIMEOUT_S)
        except BaseException:
            proc.terminate()  # the script stops its worker on SIGTERM
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise
    if proc.returncode != 0:
        tail = log.read_text().strip().splitlines()[-1:] or ["(no stderr)"]
        raise RuntimeError(f"exit code {proc.returncode}: {tail[0]} (see {log})")
    return json.loads(out)  # type: ignore[no-any-return]


def run_system(system: str, cluster: Cluster, jobs: int, samples: int,
               workdir: Path) -> dict[str, Any]:  # fmt: skip
    """One system's figures, or ``{"name", "error"}`` if it could not run."""
    t0 = time.monotonic()
    try:
        if system == "joblane":
            result = measure_joblane_pg(cluster, jobs, samples, workdir)
        else:
            setup_venv(system)
            dsn = cluster.fresh_database(system)
            result = measure_peer(system, dsn, jobs, samples, workdir)
    except Exception as exc:  # report it and go on with the other systems
        result = {"name": system, "error": f"{type(exc).__name__}: {exc}"}
    result["elapsed_s"] = round(time.monotonic() - t0, 1)
    print(f"{system}: {result['elapsed_s']} s", file=sys.stderr, flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="joblane vs its peers on PostgreSQL")
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument("--only", nargs="+", choices=("joblane", *PEERS),
                        help="run only these systems (default: all)")  # fmt: skip
    parser.add_argument("--workdir", type=Path, default=BENCH / "results" / "postgres-work")
    args = parser.parse_args(argv)
    systems = args.only or ["joblane", *PEERS]
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _raise_on_sigterm)

    results: list[dict[str, Any]] = []
    started = time.monotonic()
    with postgres_cluster() as cluster:
        server = cluster.settings()
        ceiling = {"before": commit_rates(cluster)}
        for system in systems:
            results.append(run_system(system, cluster, args.jobs, args.latency_samples, workdir))
        ceiling["after"] = commit_rates(cluster)
    text = table(results)
    print(text)
    print("\none psycopg connection, a second: " + "; ".join(
        f"{when}: INSERT+COMMIT {c['commit_per_s']:,}, SELECT 1 {c['select1_per_s']:,}"
        for when, c in ceiling.items()))  # fmt: skip
    save_record("postgres", {
        "command": " ".join(["python -m bench.postgres", *(argv or sys.argv[1:])]),
        "elapsed_s": round(time.monotonic() - started, 1),
        "machine": {"postgres": server, "sync_commit_ceiling": ceiling,
                    "cluster": "initdb, trust, 127.0.0.1, " + ", ".join(SERVER_SETTINGS)},
        "results": results,
        "table": text,
    })  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
