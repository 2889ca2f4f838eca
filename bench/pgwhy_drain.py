# ruff: noqa: E501, B905  (a throwaway measurement script; see bench/RESULTS.md)
"""Who burns the CPU of joblane's drain on PostgreSQL (bench/RESULTS.md, "Why joblane is behind
pgqueuer"): bench/postgres.py's cluster and drain (N jobs enqueued in one enqueue_many, the
gated worker of bench/sqlite.py, timed to the marker's start), with the CPU time (user+sys,
from /proc) that each group of processes used during the drain: the worker's main process,
its slot processes, the PostgreSQL backends (every ``postgres:`` process of the cluster).

    python -m bench.pgwhy_drain --jobs 3000 --concurrency 2 [--sql 'DROP INDEX joblane.jobs_leases']
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import bench.postgres as bp
from bench.pgwhy_probe import EXTRA, reset, snapshot

TICK = os.sysconf("SC_CLK_TCK")


def cpu_of(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def children(pid: int) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                ppid = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                out.append(int(p.name))
    return out


def per_statement(stats: list[dict], n: int) -> dict[str, dict[str, float]]:
    """Server time a drained job and calls, by statement (its first 60 characters)."""
    out: dict[str, dict[str, float]] = {}
    for s in stats:
        if s["toplevel"] and s["calls"] > 2:
            e = out.setdefault(s["query"][:60], {"us_per_job": 0.0, "calls": 0})
            e["us_per_job"] = round(e["us_per_job"] + float(s["total_ms"]) * 1e3 / n, 1)
            e["calls"] += s["calls"]
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sql", help="run on the jobs' database before the drain (a variant)")
    args = parser.parse_args()
    n = args.jobs

    from bench import tasks
    from bench.common import MarkReader
    from bench.sqlite import gated_worker_process
    from joblane import Queue
    from joblane.config import backend_from_url

    workdir = (bp.BENCH / "results" / "pgwhy-work").resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    fifo = workdir / "drain-marks.fifo"
    fifo.unlink(missing_ok=True)
    os.mkfifo(fifo)
    os.environ["JOBLANE_BENCH_FIFO"] = str(fifo)
    reader = MarkReader(fifo)
    rounds = []
    bp.SERVER_SETTINGS = (*bp.SERVER_SETTINGS, *EXTRA)
    with bp.postgres_cluster() as cluster:
        url = bp.joblane_url(cluster)
        postmaster = cluster.server.process.pid
        for _ in range(args.rounds):
            bp.joblane_reset(cluster, url)
            backend = backend_from_url(url)
            queue = Queue("normal", backend=backend)
            queue.enqueue_many([Queue.prepare_data(tasks.noop, (i,)) for i in range(n - 1)]
                               + [Queue.prepare_data(tasks.mark, (n - 1,))])  # fmt: skip
            if args.sql:
                import psycopg

                with psycopg.connect(cluster.dsn("joblane"), autocommit=True) as conn:
                    conn.execute(args.sql)  # type: ignore[arg-type]
            worker = gated_worker_process(url, fifo, args.concurrency, 0)
            try:
                main_pid = worker.proc.pid
                slots = children(main_pid)
                pg = children(postmaster)
                reset(cluster)
                before = (cpu_of([main_pid]), cpu_of(slots), cpu_of(pg))
                t_go = worker.go()
                t_end = reader.wait(n - 1, 600, worker.alive)
                after = (cpu_of([main_pid]), cpu_of(slots), cpu_of(pg))
            finally:
                worker.stop()
            backend.close()
            stats = snapshot(cluster, ["joblane"])["statements"]
            seconds = t_end - t_go
            used = [round((a - b) / n * 1e6, 1) for a, b in zip(after, before)]
            rounds.append({"drain_per_s": round(n / seconds), "wall_us_per_job": round(seconds / n * 1e6, 1),
                           "cpu_us_per_job": {"worker main": used[0], f"{len(slots)} slots": used[1],
                                              "postgres": used[2]},
                           "server_us_per_job": per_statement(stats, n)})  # fmt: skip
    reader.close()
    fifo.unlink(missing_ok=True)
    print(json.dumps(rounds, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
