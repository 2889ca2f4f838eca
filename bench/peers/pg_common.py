"""The harness every PostgreSQL peer script (``bench/peers/pg_<peer>.py``) runs on.

The PostgreSQL twin of ``redis_common.py``: a peer script runs in that peer's own virtualenv
(``setup_env.sh``) and needs only the stdlib, ``bench/common.py`` and psycopg 3, which
``setup_env.sh`` installs beside each PostgreSQL peer.  It describes its peer with a
:class:`Peer` (how to install its schema, enqueue, run its worker, and which tables hold its
jobs) and hands it to :func:`main`; the method below is then the same for every peer, and
``bench/postgres.py`` follows it for joblane.

Method (the one of ``redis_common.py``, on PostgreSQL)
-----------------------------------------------------
The database is one of its own on the throwaway cluster that ``bench/postgres.py`` starts
(never a machine's own PostgreSQL), created empty for this peer; the peer's own migration
tool installs its schema into it first (``Peer.install``).  The server commits
synchronously (``synchronous_commit=on``, ``fsync=on``): every enqueue below is durable when
it returns.  Two jobs, each taking one int: ``noop(i)`` does nothing; ``mark(i)`` takes
``time.monotonic()`` as its first statement and writes ``"i t"`` into a FIFO the parent
blocks on (``bench/common.py``).  Before each step the peer's tables are emptied
(``TRUNCATE``, ``Peer.reset_sql``).

1. enqueue_many, if the peer has a bulk enqueue: N no-ops in one call, timed around the call
   (building the N job descriptions included).
2. For each worker setting (``--settings``; the peer's default configuration and the best one
   found): enqueue ``noop(0..N-2)`` then ``mark(N-1)`` one call at a time, nothing consuming,
   timed from just before the first call to just after the last (``enqueue_one_per_s``).
   Then a worker process is started on the full queue but held at a gate: it has done its
   imports, built the peer's app and worker and connected to PostgreSQL, prints ``ready``
   and blocks on stdin.  The parent takes ``t_go = time.monotonic()`` and writes ``go``; the
   worker starts at once.  Both peers take jobs in FIFO order (priority, then id), so the
   drain is over when ``mark(N-1)`` starts: ``drain_per_s = N / (stamp - t_go)``; the parent
   then checks that nothing is left queued.  Then, with the same worker idle, ``S`` latency
   samples: sleep 20 ms, take ``t0``, enqueue ``mark(s)``, wait for its start stamp; p50 and
   p99 by linear interpolation (numpy's default).
3. The worker is stopped: stdin closed, then the peer's own graceful stop, then SIGTERM and
   SIGKILL to its process group if it hangs; also on errors and on SIGTERM to the parent.  A
   worker whose parent dies sees stdin close and stops.

Output: ONE JSON object on stdout (nothing else goes there; the worker's own stdout is sent
to stderr).  ``enqueue_one_per_s`` is the median over the settings' rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import psycopg

BENCH = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCH))
from common import (  # noqa: E402
    FIFO_ENV,
    LATENCY_IDLE_S,
    GatedProcess,
    MarkReader,
    percentile,
    take_stdout,
)
from common import gate as gate  # noqa: E402  (the peer scripts import these from here)
from common import mark_now as mark_now  # noqa: E402

READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 15.0
LATENCY_TIMEOUT_S = 30.0


@dataclass
class Peer:
    """What the harness needs to know about one peer (all callables run in the parent)."""

    name: str
    dist: str  # the distribution whose version is reported
    settings: Sequence[str]  # worker settings run when --settings is not given
    default_setting: str  # the peer's own default configuration (one of settings)
    describe: dict[str, str]  # setting -> what it means, for the notes
    enqueue_one: Callable[[int], float]  # noop(0..n-2) then mark(n-1), one call each; seconds
    enqueue_mark: Callable[[int], None]  # enqueue mark(s)
    pending_sql: str  # SELECT count(*) of the jobs waiting to run
    reset_sql: str  # empties the peer's tables (TRUNCATE ...)
    enqueue_many: Callable[[int], float] | None = None  # n no-ops in one call; seconds
    close: Callable[[], None] | None = None  # closes the parent's connections at the end
    notes: dict[str, Any] = field(default_factory=dict)


def run_tool(cmd: list[str], env: dict[str, str] | None = None) -> None:
    """Run the peer's own command-line tool (its schema migration); fail with its stderr."""
    import subprocess

    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=Path(__file__).parent)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[1:])} failed ({done.returncode}): {done.stderr[-2000:]}")


def consumer_process(script: Path, setting: str, dsn: str, fifo: Path) -> GatedProcess:
    """A gated worker running the peer's script in a child process."""
    cmd = [sys.executable, str(script), "--consumer", setting, "--dsn", dsn]
    return GatedProcess(
        cmd, env=dict(os.environ, **{FIFO_ENV: str(fifo)}),
        ready_timeout=READY_TIMEOUT_S, stop_timeout=STOP_TIMEOUT_S,
    )  # fmt: skip


# --------------------------------------------------------------------------- measurement


class Tables:
    """The parent's own connection for emptying and counting the peer's tables."""

    def __init__(self, dsn: str, peer: Peer) -> None:
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.peer = peer

    def reset(self) -> None:
        self.conn.execute(self.peer.reset_sql)  # type: ignore[arg-type]

    def pending(self) -> int:
        row = self.conn.execute(self.peer.pending_sql).fetchone()  # type: ignore[arg-type]
        assert row is not None
        return int(row[0])

    def close(self) -> None:
        self.conn.close()


def run_setting(
    peer: Peer, script: Path, setting: str, dsn: str, tables: Tables, fifo: Path,
    reader: MarkReader, jobs: int, samples: int,
) -> dict[str, Any]:  # fmt: skip
    tables.reset()
    enqueue_s = peer.enqueue_one(jobs)
    if (queued := tables.pending()) != jobs:
        raise RuntimeError(f"{queued} jobs queued after enqueueing {jobs}")

    consumer = consumer_process(script, setting, dsn, fifo)
    try:
        t_go = consumer.go()
        drain_s = reader.wait(jobs - 1, max(120.0, jobs * 0.1), consumer.alive) - t_go
        if (queued := tables.pending()) != 0:
            raise RuntimeError(f"marker ran but {queued} jobs are still queued: not FIFO?")
        latencies: list[float] = []
        for s in range(samples):
            time.sleep(LATENCY_IDLE_S)
            before = time.monotonic()
            peer.enqueue_mark(s)
            latencies.append(reader.wait(s, LATENCY_TIMEOUT_S, consumer.alive) - before)
    finally:
        consumer.stop()
    lat_ms = sorted(x * 1000 for x in latencies)
    return {
        "setting": setting,
        "default": setting == peer.default_setting,
        "jobs": jobs,
        "enqueue_one_per_s": round(jobs / enqueue_s, 1),
        "drain_per_s": round(jobs / drain_s, 1),
        "drain_s": round(drain_s, 4),
        "latency_p50_ms": round(percentile(lat_ms, 50), 3) if lat_ms else None,
        "latency_p99_ms": round(percentile(lat_ms, 99), 3) if lat_ms else None,
        "latency_max_ms": round(lat_ms[-1], 3) if lat_ms else None,
    }


def benchmark(
    peer: Peer, script: Path, dsn: str, jobs: int, samples: int, workdir: Path,
    settings: Sequence[str],
) -> dict[str, Any]:  # fmt: skip
    from importlib.metadata import version

    tables = Tables(dsn, peer)
    workdir.mkdir(parents=True, exist_ok=True)
    fifo = workdir / f"{peer.name}-marks.fifo"
    fifo.unlink(missing_ok=True)
    os.mkfifo(fifo)
    reader = MarkReader(fifo)
    rounds: list[dict[str, Any]] = []
    enqueue_many_per_s = None
    try:
        if peer.enqueue_many is not None:
            tables.reset()
            many_s = peer.enqueue_many(jobs)
            if (queued := tables.pending()) != jobs:
                raise RuntimeError(f"{queued} jobs queued after enqueue_many of {jobs}")
            enqueue_many_per_s = round(jobs / many_s, 1)
        for setting in settings:
            rounds.append(
                run_setting(peer, script, setting, dsn, tables, fifo, reader, jobs, samples)
            )
        tables.reset()
        server = {
            name: tables.conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
            for name in ("server_version", "synchronous_commit", "fsync")
        }
    finally:
        reader.close()
        fifo.unlink(missing_ok=True)
        tables.close()
        if peer.close is not None:
            peer.close()

    best = max(rounds, key=lambda r: r["drain_per_s"])
    default = next((r for r in rounds if r["default"]), None)
    return {
        "name": peer.name,
        "version": version(peer.dist),
        "jobs": jobs,
        "latency_samples": samples,
        "enqueue_one_per_s": round(statistics.median(r["enqueue_one_per_s"] for r in rounds), 1),
        "enqueue_many_per_s": enqueue_many_per_s,
        "default_setting": default["setting"] if default else None,
        "drain_default_per_s": default["drain_per_s"] if default else None,
        "best_setting": best["setting"],
        "drain_best_per_s": best["drain_per_s"],
        "latency_p50_ms": default["latency_p50_ms"] if default else None,
        "latency_p99_ms": default["latency_p99_ms"] if default else None,
        "settings": rounds,
        "notes": {
            **peer.notes,
            "settings": {s: peer.describe.get(s, s) for s in settings},
            "psycopg": version("psycopg"),
            "server": server,
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
            "enqueue_one": "median of the settings' rounds (each enqueues N one by one)",
            "drain_timing": "worker gated after imports, app/worker set-up and connection; "
            "from gate opening to start of the last (marker) job",
            "latency_timing": f"{LATENCY_IDLE_S * 1000:.0f} ms idle before each sample",
        },
    }


def _raise_on_sigterm(signum: int, frame: object) -> NoReturn:
    raise SystemExit(128 + signum)  # so that finally blocks stop the worker


def main(
    make_peer: Callable[[str], Peer], install: Callable[[str], None],
    consumer: Callable[[str, str], None], script: str, argv: list[str] | None = None,
) -> int:  # fmt: skip
    """The peer script's entry point.  ``install(dsn)`` puts the peer's schema into the
    (empty) database with the peer's own tool; ``make_peer(dsn)`` builds the parent's side;
    ``consumer(setting, dsn)`` is the worker child: set up, call :func:`gate`, run."""
    name = Path(script).stem.removeprefix("pg_")
    parser = argparse.ArgumentParser(description=f"{name} peer of bench/postgres.py")
    parser.add_argument("--dsn", required=True, help="the throwaway cluster's database to use")
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument(
        "--settings", nargs="+", metavar="SETTING",
        help="worker settings to run (default: the peer's default and best found)",
    )  # fmt: skip
    parser.add_argument("--workdir", type=Path, default=BENCH / "results" / "postgres-work")
    parser.add_argument("--consumer", metavar="SETTING", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.consumer is not None:
        import logging

        take_stdout()
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
        consumer(args.consumer, args.dsn)
        return 0
    if args.jobs < 1 or args.latency_samples < 0:
        parser.error("--jobs must be >= 1 and --latency-samples >= 0")

    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    install(args.dsn)
    peer = make_peer(args.dsn)
    result = benchmark(
        peer, Path(script).resolve(), args.dsn, args.jobs, args.latency_samples,
        args.workdir.resolve(), args.settings or peer.settings,
    )  # fmt: skip
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0
