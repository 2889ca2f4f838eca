# ruff: noqa: E501  (a throwaway measurement script; see bench/RESULTS.md)
"""Throwaway measurement for bench/RESULTS.md (PostgreSQL, issue 15): the drain's database
side alone, without a worker: N jobs enqueued, then claim(limit=B) with the previous batch's
settlements (no-op jobs, succeeded), as the worker's pipelined step does, until the queue is
empty. Prints wall, client CPU and server time (pg_stat_statements) per job for each round.

    python -m bench.pgwhy_cycle [--jobs 10000] [--batch 40] [--rounds 3]
"""

from __future__ import annotations

import argparse
import time

import psycopg

import bench.postgres as bp
from bench import tasks
from bench.pgwhy_probe import EXTRA, reset
from joblane import Queue
from joblane.config import backend_from_url
from joblane.core.outcome import Outcome, OutcomeKind, decide


def explain(cluster: bp.Cluster, backend: object, settlements: list) -> None:
    from joblane.backends.postgres.records import settle_arrays

    with psycopg.connect(cluster.dsn("joblane")) as conn:
        for _ in range(6):  # past the custom plans: the generic plan, as the backend's
            conn.execute(backend.q.settle, settle_arrays(settlements, []), prepare=True)  # type: ignore[attr-defined]
            conn.rollback()
        conn.execute("LOAD 'auto_explain'")
        conn.execute("SET auto_explain.log_min_duration = 0")
        conn.execute("SET auto_explain.log_analyze = on")
        conn.execute("SET auto_explain.log_nested_statements = on")
        conn.execute("SET client_min_messages = log")
        notes: list[str] = []
        conn.add_notice_handler(lambda d: notes.append(d.message_primary or ""))
        conn.execute(backend.q.settle, settle_arrays(settlements, []), prepare=True)  # type: ignore[attr-defined]
        conn.rollback()
        now = backend.now()  # type: ignore[attr-defined]
        claim = {"queues": ["normal"], "limit": 40, "now": now, "worker": "w", "tokens": [str(i) for i in range(40)],
                 "lease_expires": now + 60, "starting": 40}  # fmt: skip
        for row in conn.execute(b"EXPLAIN (ANALYZE, BUFFERS) " + backend.q.claim, claim):  # type: ignore[attr-defined]
            print(row[0])
        conn.rollback()
        for note in notes:
            print(note)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE a settle half-way")
    args = parser.parse_args()
    n = args.jobs
    bp.SERVER_SETTINGS = (*bp.SERVER_SETTINGS, *EXTRA)
    ok = Outcome(OutcomeKind.SUCCEEDED, result=b"null")
    with bp.postgres_cluster() as cluster:
        url = bp.joblane_url(cluster)
        for rnd in range(args.rounds):
            bp.joblane_reset(cluster, url)
            backend = backend_from_url(url)
            queue = Queue("normal", backend=backend)
            queue.enqueue_many([Queue.prepare_data(tasks.noop, (i,)) for i in range(n)])
            reset(cluster)
            done = 0
            pending: list = []
            w0, c0 = time.perf_counter(), time.process_time()
            while True:
                now = backend.now()
                _, jobs = backend.claim(["normal"], worker="w", limit=args.batch, lease_seconds=60,
                                        now=now, settle=pending)  # fmt: skip
                if not jobs and not pending:
                    break
                done += len(pending)
                if args.explain and done >= n // 2 and jobs:
                    args.explain = False
                    explain(
                        cluster,
                        backend,
                        [decide(job, job.lease_token or "", ok, now) for job in jobs],
                    )
                pending = [decide(job, job.lease_token or "", ok, now) for job in jobs]
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
                rows = conn.execute(
                    "select substr(query, 1, 40), calls, total_exec_time from pg_stat_statements "
                    "where dbid = (select oid from pg_database where datname = 'joblane') "
                    "order by total_exec_time desc limit 4"
                ).fetchall()
            server = {
                q.split()[0] + " " + q.split()[1]: round(t * 1e3 / done, 1) for q, _, t in rows
            }
            print(
                f"round {rnd}: {done / wall:.0f} jobs/s, wall {wall / done * 1e6:.0f} us/job, client cpu {cpu / done * 1e6:.0f}, server us/job {server}",
                flush=True,
            )
            backend.close()


if __name__ == "__main__":
    main()
