# ruff: noqa: B023, B018  (a throwaway measurement script; see bench/RESULTS.md)
"""One enqueue's statement, priced on its own (bench/RESULTS.md, "Why joblane is behind
pgqueuer"): on bench/postgres.py's cluster, one psycopg connection in autocommit, N inserts
each way, the ways interleaved over --rounds rounds (the machine is shared: the median of
the rounds is reported), wall time and this process's CPU time a job:

  small        INSERT of a 2-column row (bench/postgres.py's ceiling, in one round trip)
  joblane      joblane's insert_jobs of one job's 29 arrays (unnest ... ORDER BY n)
  joblane_row  the same job as 29 scalar parameters (INSERT ... VALUES), same table
  ..._async    synchronous_commit=off for the session: the same without the WAL flush wait
  psycopg_only the client side alone: psycopg building joblane's arrays' query (no server)

    python -m bench.pgwhy_rt --jobs 1000 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

import bench.postgres as bp

COLUMNS = """id, queue, func_name, payload, status, created, enqueued, started, ended, scheduled,
job_timeout, result_ttl, ttl, failure_ttl, retries_left, retry_intervals, attempts, meta,
worker_name, result, last_job_result, depends_on, at_front, expires_at, lease_token,
lease_expires, cancel_requested, lost_attempts, enqueued_by"""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    n = args.jobs

    import psycopg
    from psycopg import ClientCursor

    from bench import tasks
    from joblane import Queue
    from joblane.backends.postgres.records import job_arrays
    from joblane.config import backend_from_url

    names = [c.strip() for c in COLUMNS.replace("\n", " ").split(",")]
    results: dict[str, list[tuple[float, float]]] = {}
    with bp.postgres_cluster() as cluster:
        url = bp.joblane_url(cluster)
        bp.joblane_reset(cluster, url)
        backend = backend_from_url(url)
        queue = Queue("normal", backend=backend)
        queue.count
        insert_jobs = backend.q.insert_jobs
        row_sql = (f"INSERT INTO joblane.jobs ({COLUMNS}, position) VALUES ("
                   + ", ".join(f"%({c})s" for c in names)
                   + ", nextval('joblane.positions'))")  # fmt: skip
        with psycopg.connect(cluster.dsn("joblane"), autocommit=True) as conn:
            conn.execute("CREATE TABLE small (id bigserial PRIMARY KEY, payload text NOT NULL)")

            def timed(name: str, fn: Any) -> None:
                c0, t0 = time.process_time(), time.perf_counter()
                fn()
                t1, c1 = time.perf_counter(), time.process_time()
                results.setdefault(name, []).append(((t1 - t0) / n * 1e6, (c1 - c0) / n * 1e6))

            for _ in range(args.rounds):
                recs = [queue.build_call(tasks.noop, (i,)).record for i in range(4 * n)]
                arrays = [job_arrays([r]) for r in recs]
                rows = [{k: v[0] for k, v in a.items()} for a in arrays]
                for mode in ("", "_async"):
                    conn.execute("SET synchronous_commit = " + ("off" if mode else "on"))
                    timed("small" + mode, lambda: [conn.execute(
                        "INSERT INTO small (payload) VALUES (%s)", (f"job {i}",))
                        for i in range(n)])  # fmt: skip
                    part = slice(0, n) if not mode else slice(2 * n, 3 * n)
                    timed(
                        "joblane" + mode,
                        lambda: [conn.execute(insert_jobs, a) for a in arrays[part]],
                    )
                    part = slice(n, 2 * n) if not mode else slice(3 * n, 4 * n)
                    timed(
                        "joblane_row" + mode, lambda: [conn.execute(row_sql, r) for r in rows[part]]
                    )  # type: ignore[arg-type]
                conn.execute("TRUNCATE joblane.jobs, small")
                cur = ClientCursor(conn)
                timed("psycopg_only", lambda: [cur.mogrify(insert_jobs, a) for a in arrays[:n]])
        backend.close()
    summary = {name: {"wall_us": round(statistics.median(w for w, _ in v), 1),
                      "cpu_us": round(statistics.median(c for _, c in v), 1),
                      "rounds_wall_us": [round(w) for w, _ in v]}
               for name, v in results.items()}  # fmt: skip
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
