"""Huey (SQLite storage) peer of joblane's SQLite benchmark.

Run with the Huey venv's python (see ``setup_env.sh``), never with joblane's::

    bench/.venvs/huey/bin/python bench/peers/huey_sqlite.py \
        --jobs 10000 --latency-samples 200 --workdir /tmp/bench-huey

Prints ONE JSON object on stdout; nothing else goes to stdout.

Configuration (Huey's defaults, nothing tuned)
----------------------------------------------
``huey.SqliteHuey(filename=...)`` with default settings: ``results=True`` (no-op tasks return
``None`` and ``store_none=False``, so no result rows are written), pickle serializer, no
compression.  ``SqliteStorage`` defaults (huey/storage.py): ``journal_mode='wal'``,
``cache_mb=8`` (``pragma cache_size=-8000``), ``timeout=5`` (busy timeout 5 s),
``fsync=None`` so ``pragma synchronous`` is left at SQLite's default, which is FULL (2): every
commit fsyncs the WAL.  The connection is in autocommit mode and every write (enqueue, dequeue)
is its own ``BEGIN EXCLUSIVE`` transaction.  The pragmas actually in force are read back from
Huey's own connection at run time and reported under ``notes.sqlite``.

Consumer: ``huey.create_consumer(workers=1, worker_type='thread')`` in a separate process.  Its
queue polling is Huey's default: after an empty poll the worker sleeps ``initial_delay=0.1`` s,
multiplied by ``backoff=1.15`` after each further empty poll, capped at ``max_delay=10`` s; a
successful dequeue resets it to 0.1 s.  The scheduler thread wakes every 1 s and cannot be
disabled.

Workload and method
-------------------
Two tasks, each taking one int: ``noop(i)`` does nothing; ``mark(i)`` takes
``time.monotonic()`` as its first statement and writes ``"i t"`` to a FIFO that the parent
reads (Linux ``CLOCK_MONOTONIC`` is system-wide, so the stamps compare across processes).  The
FIFO lets the parent block instead of polling, so it takes no CPU from the consumer on a small
machine and adds no database work to the hot path.

1. enqueue_one: into a fresh database, with nothing consuming, enqueue ``noop(0..N-2)`` then
   ``mark(N-1)``, one call at a time.  Timed from just before the first call to just after the
   last.  ``enqueue_one_per_s = N / elapsed``.
2. enqueue_many: Huey has no bulk enqueue of distinct tasks (``TaskWrapper.map`` and ``group``
   loop over ``Huey.enqueue``, one transaction per task), so this is ``null``.
3. drain: a consumer process is started on the full queue but held at a gate: it imports
   everything, builds its Huey instance, opens its SQLite connection and builds the
   ``Consumer``, prints ``ready`` and then blocks on stdin.  Interpreter start-up and imports
   are so excluded.  The parent takes ``t_go = time.monotonic()`` and writes ``go``; the child
   calls ``consumer.run()`` at once.  With one worker Huey is FIFO (same priority, rowid
   order, fresh database), so the drain is over when ``mark(N-1)`` starts; that stamp minus
   ``t_go`` is the drain time, and ``drain_per_s = N / drain time``.  Afterwards the parent
   checks that ``pending_count() == 0``.  joblane replicates this: gate its worker the same
   way, make the last job the marker.
   ``drain_per_s`` uses a lean consumer (``periodic=False, check_worker_health=False``);
   ``drain_default_consumer_per_s`` repeats steps 1 and 3 on a fresh database with Huey's
   default ``periodic=True, check_worker_health=True`` (health check every 10 s).
4. latency: with the lean consumer from step 3 still running and idle, ``S`` times: sleep
   20 ms, take ``t0 = time.monotonic()``, enqueue ``mark(s)``, wait for its stamp ``t1``;
   the sample is ``t1 - t0``.  p50 and p99 use linear interpolation between closest ranks
   (numpy's default).  This measures Huey's default polling: after each task the worker's
   empty-queue sleep restarts at 0.1 s, so most samples come out near 100 ms - 20 ms.

The consumer is stopped at the end (stdin closed -> the child sends itself SIGINT, Huey's
graceful stop; then SIGTERM, then SIGKILL if it hangs), also when an exception or SIGTERM hits.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version as dist_version
from pathlib import Path
from typing import Any, NoReturn

import orjson
from huey import SqliteHuey

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import (
    LATENCY_IDLE_S,
    GatedProcess,
    MarkReader,
    fresh_db,
    percentile,
    write_mark,
)

# Lean consumer used for drain_per_s and latency; "default" keeps Huey's own defaults.
CONSUMER_MODES: dict[str, dict[str, Any]] = {
    "lean": {"periodic": False, "check_worker_health": False},
    "default": {"periodic": True, "check_worker_health": True},
}
# Polling defaults of huey.consumer.Consumer, left untouched; reported in the notes.
HUEY_POLLING = {"initial_delay_s": 0.1, "backoff": 1.15, "max_delay_s": 10.0}
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
LATENCY_TIMEOUT_S = 30.0
SQLITE_PRAGMAS = (
    "journal_mode",
    "synchronous",
    "cache_size",
    "busy_timeout",
    "wal_autocheckpoint",
    "locking_mode",
    "page_size",
)


@dataclass(frozen=True)
class Tasks:
    huey: Any  # huey.SqliteHuey (untyped library)
    noop: Any  # TaskWrapper: noop(i) enqueues a task that does nothing
    mark: Any  # TaskWrapper: mark(i) enqueues a task that stamps its start into the FIFO


def build_huey(db_path: Path, fifo_path: Path) -> Tasks:
    """Build the Huey instance and register the two tasks (same names in parent and child)."""
    huey = SqliteHuey(filename=str(db_path))

    def noop(i: int) -> None:
        pass

    def mark(i: int) -> None:
        write_mark(fifo_path, i)

    # Registered as "__main__.noop" / "__main__.mark" in both processes.
    return Tasks(huey=huey, noop=huey.task()(noop), mark=huey.task()(mark))


# --------------------------------------------------------------------------- consumer (child)


def consumer_main(db_path: Path, fifo_path: Path, mode: str) -> None:
    """Child process: get fully ready, wait for "go", run the consumer until stdin closes."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    tasks = build_huey(db_path, fifo_path)
    tasks.huey.storage.conn  # noqa: B018 - open the SQLite connection before the gate
    consumer = tasks.huey.create_consumer(workers=1, worker_type="thread", **CONSUMER_MODES[mode])
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return

    def stop_on_eof() -> None:
        sys.stdin.read()  # returns when the parent closes our stdin (or dies)
        os.kill(os.getpid(), signal.SIGINT)  # Huey's graceful shutdown signal

    threading.Thread(target=stop_on_eof, name="stop-on-eof", daemon=True).start()
    consumer.run()


def consumer_process(db_path: Path, fifo_path: Path, mode: str) -> GatedProcess:
    """A gated Huey consumer in a child process running this very script."""
    cmd = [
        sys.executable, str(Path(__file__).resolve()), "--consumer-mode", mode,
        "--db", str(db_path), "--fifo", str(fifo_path),
    ]  # fmt: skip
    return GatedProcess(cmd, ready_timeout=READY_TIMEOUT_S, stop_timeout=STOP_TIMEOUT_S)


# --------------------------------------------------------------------------- measurement


@dataclass
class RoundResult:
    enqueue_one_s: float
    drain_s: float
    latencies_s: list[float]
    pragmas: dict[str, Any]


def read_pragmas(tasks: Tasks) -> dict[str, Any]:
    conn: sqlite3.Connection = tasks.huey.storage.conn
    return {p: conn.execute(f"pragma {p}").fetchone()[0] for p in SQLITE_PRAGMAS}


def run_round(
    workdir: Path, reader: MarkReader, fifo: Path, mode: str, jobs: int, latency_samples: int
) -> RoundResult:
    db_path = workdir / f"huey-{mode}.db"
    fresh_db(db_path)
    tasks = build_huey(db_path, fifo)
    noop: Callable[[int], Any] = tasks.noop
    mark: Callable[[int], Any] = tasks.mark
    try:
        # 1. enqueue_one, nothing consuming.
        t0 = time.monotonic()
        for i in range(jobs - 1):
            noop(i)
        mark(jobs - 1)
        enqueue_one_s = time.monotonic() - t0
        if tasks.huey.pending_count() != jobs:
            raise RuntimeError("queue does not hold exactly --jobs tasks")

        # 2. drain, from the gate opening to the start of the last (marker) task.
        consumer = consumer_process(db_path, fifo, mode)
        try:
            t_go = consumer.go()
            drain_timeout = max(120.0, jobs * 0.05)
            drain_s = reader.wait(jobs - 1, drain_timeout, consumer.alive) - t_go
            if tasks.huey.pending_count() != 0:
                raise RuntimeError("marker ran but tasks are still pending: not FIFO?")

            # 3. latency against the idle, running consumer.
            latencies: list[float] = []
            for s in range(latency_samples):
                time.sleep(LATENCY_IDLE_S)
                before = time.monotonic()
                mark(s)
                latencies.append(reader.wait(s, LATENCY_TIMEOUT_S, consumer.alive) - before)
        finally:
            consumer.stop()
        return RoundResult(enqueue_one_s, drain_s, latencies, read_pragmas(tasks))
    finally:
        tasks.huey.storage.close()


def benchmark(jobs: int, latency_samples: int, workdir: Path) -> dict[str, Any]:
    workdir.mkdir(parents=True, exist_ok=True)
    fifo = workdir / "huey-marks.fifo"
    fifo.unlink(missing_ok=True)
    os.mkfifo(fifo)
    reader = MarkReader(fifo)
    try:
        lean = run_round(workdir, reader, fifo, "lean", jobs, latency_samples)
        default = run_round(workdir, reader, fifo, "default", jobs, 0)
    finally:
        reader.close()
        fifo.unlink(missing_ok=True)

    lat_ms = [x * 1000 for x in lean.latencies_s]
    return {
        "name": "huey",
        "version": dist_version("huey"),
        "jobs": jobs,
        "latency_samples": latency_samples,
        "enqueue_one_per_s": round(jobs / lean.enqueue_one_s, 1),
        "enqueue_many_per_s": None,
        "drain_per_s": round(jobs / lean.drain_s, 1),
        "drain_default_consumer_per_s": round(jobs / default.drain_s, 1),
        "latency_p50_ms": round(percentile(lat_ms, 50), 3) if lat_ms else None,
        "latency_p99_ms": round(percentile(lat_ms, 99), 3) if lat_ms else None,
        "details": {
            "enqueue_one_s": round(lean.enqueue_one_s, 4),
            "drain_s": round(lean.drain_s, 4),
            "enqueue_one_per_s_round2": round(jobs / default.enqueue_one_s, 1),
            "drain_default_consumer_s": round(default.drain_s, 4),
            "latency_min_ms": round(min(lat_ms), 3) if lat_ms else None,
            "latency_max_ms": round(max(lat_ms), 3) if lat_ms else None,
        },
        "notes": {
            "storage": "SqliteHuey defaults: WAL, synchronous left at SQLite default (FULL, "
            "fsync per commit), one BEGIN EXCLUSIVE transaction per enqueue and "
            "per dequeue",
            "sqlite": {"version": sqlite3.sqlite_version, **lean.pragmas},
            "consumer": "1 thread worker; drain_per_s and latency: periodic=False, "
            "check_worker_health=False; drain_default_consumer_per_s: Huey "
            "defaults (periodic=True, health check every 10 s); scheduler thread "
            "wakes every 1 s in both",
            "polling": HUEY_POLLING,
            "enqueue_many": "no bulk enqueue API in Huey (map/group enqueue one by one)",
            "drain_timing": "consumer gated after imports, Huey setup and connection open; "
            "from gate opening to start of the last (marker) task",
            "latency_timing": f"{LATENCY_IDLE_S * 1000:.0f} ms idle between samples; includes "
            "Huey's default 0.1 s polling sleep",
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
        },
    }


def _raise_on_sigterm(signum: int, frame: object) -> NoReturn:
    raise SystemExit(128 + signum)  # so that finally blocks stop the consumer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path(__file__).resolve().parents[1] / "results" / "huey-work",
    )
    # Internal: run as the gated consumer child.
    parser.add_argument("--consumer-mode", choices=sorted(CONSUMER_MODES), help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--fifo", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.consumer_mode is not None:
        consumer_main(args.db, args.fifo, args.consumer_mode)
        return 0
    if args.jobs < 1 or args.latency_samples < 0:
        parser.error("--jobs must be >= 1 and --latency-samples >= 0")

    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    result = benchmark(args.jobs, args.latency_samples, args.workdir.resolve())
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
