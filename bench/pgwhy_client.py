# ruff: noqa: E501, B018  (a throwaway measurement script; see bench/RESULTS.md)
"""Where one joblane enqueue's time goes on PostgreSQL, layer by layer (bench/RESULTS.md, "Why
joblane is behind pgqueuer").  On bench/postgres.py's cluster (fsync=on, synchronous_commit
on), N jobs each way, a fresh schema before each timed step:

  build      Queue.build_call (the JobRecord: id, pickled payload, validation), no I/O
  arrays     records.job_arrays of one record (the 29 parameter lists)
  raw_small  psycopg, autocommit: INSERT of a small row into a 2-column table (the ceiling)
  raw_jobs   psycopg, autocommit: joblane's insert_jobs of pre-built arrays, nothing else
  backend    PostgresBackend.enqueue([record]) of pre-built records (pool, store_jobs, notify)
  queue      Queue.enqueue(noop, i): everything (what bench/postgres.py times)
  many_*     enqueue_many of N: build_many, job_arrays, the statement (server time apart)

Then the same `queue` step with one schema change at a time (--variants): a cheap way to
price an index or the trigger; never committed to src/.

    python -m bench.pgwhy_client --jobs 2000 [--variants] [--profile]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import bench.postgres as bp

VARIANTS = {
    "no jobs_func_name": "DROP INDEX joblane.jobs_func_name",
    "no insert trigger": "DROP TRIGGER jobs_inserted ON joblane.jobs",
    "no jobs_func_name, no trigger": "DROP INDEX joblane.jobs_func_name; "
    "DROP TRIGGER jobs_inserted ON joblane.jobs",
    "pkey only (no secondary index, no trigger)": (
        "DROP INDEX joblane.jobs_func_name; DROP INDEX joblane.jobs_queued; "
        "DROP INDEX joblane.jobs_registry; DROP INDEX joblane.jobs_scheduled; "
        "DROP INDEX joblane.jobs_leases; DROP INDEX joblane.jobs_expiry; "
        "DROP TRIGGER jobs_inserted ON joblane.jobs"
    ),
}


def rate(n: int, seconds: float) -> dict[str, float]:
    return {"per_s": round(n / seconds), "us_per_job": round(seconds / n * 1e6, 1)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--variants", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    n = args.jobs

    import psycopg

    from bench import tasks
    from joblane import Queue
    from joblane.backends.postgres.records import job_arrays
    from joblane.config import backend_from_url

    out: dict[str, Any] = {}
    with bp.postgres_cluster() as cluster:
        url = bp.joblane_url(cluster)

        def fresh(sql: str | None = None) -> tuple[Any, Any]:
            bp.joblane_reset(cluster, url)
            backend = backend_from_url(url)
            queue = Queue("normal", backend=backend)
            queue.count
            if sql:
                with psycopg.connect(cluster.dsn("joblane"), autocommit=True) as c:
                    c.execute(sql)  # type: ignore[arg-type]
            return backend, queue

        backend, queue = fresh()
        t0 = time.perf_counter()
        records = [queue.build_call(tasks.noop, (i,)).record for i in range(n)]
        out["build"] = rate(n, time.perf_counter() - t0)
        t0 = time.perf_counter()
        arrays = [job_arrays([r]) for r in records]
        out["arrays"] = rate(n, time.perf_counter() - t0)
        row = records[0]
        out["row"] = {"payload_bytes": len(row.payload), "id": row.id,
                      "enqueued_by_bytes": len(job_arrays([row])["enqueued_by"][0] or b"")}  # fmt: skip

        with psycopg.connect(cluster.dsn("joblane"), autocommit=True) as conn:
            conn.execute("CREATE TABLE small (id bigserial PRIMARY KEY, payload text NOT NULL)")
            t0 = time.perf_counter()
            for i in range(n):
                conn.execute("INSERT INTO small (payload) VALUES (%s)", (f"job {i}",))
            out["raw_small"] = rate(n, time.perf_counter() - t0)
            t0 = time.perf_counter()
            for a in arrays:
                conn.execute(backend.q.insert_jobs, a)
            out["raw_jobs"] = rate(n, time.perf_counter() - t0)
            width = conn.execute("SELECT avg(pg_column_size(j.*))::int FROM joblane.jobs j")
            out["row"]["avg_row_bytes"] = width.fetchone()[0]  # type: ignore[index]
            conn.execute("TRUNCATE joblane.jobs")

        records = [queue.build_call(tasks.noop, (i,)).record for i in range(n)]
        t0 = time.perf_counter()
        for r in records:
            backend.enqueue([r])
        out["backend"] = rate(n, time.perf_counter() - t0)
        backend.close()

        def one_by_one(queue: Any) -> dict[str, float]:
            t0 = time.perf_counter()
            for i in range(n):
                queue.enqueue(tasks.noop, i)
            return rate(n, time.perf_counter() - t0)

        backend, queue = fresh()
        if args.profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0002)
            profiler.start()
            out["queue"] = one_by_one(queue)
            profiler.stop()
            text = profiler.output_text(unicode=False, color=False, show_all=False)
            (bp.BENCH / "results" / "pgwhy-enqueue-profile.txt").write_text(text)
        else:
            out["queue"] = one_by_one(queue)
        backend.close()

        backend, queue = fresh()
        t0 = time.perf_counter()
        items = [Queue.prepare_data(tasks.noop, (i,)) for i in range(n)]
        built = queue._build_many(items)
        t1 = time.perf_counter()
        many = job_arrays(built)
        t2 = time.perf_counter()
        backend.enqueue(built)
        t3 = time.perf_counter()
        out["many"] = {"build_ms": round((t1 - t0) * 1e3, 1), "arrays_ms": round((t2 - t1) * 1e3, 1),
                       "store_ms": round((t3 - t2) * 1e3, 1), **rate(n, t3 - t0)}  # fmt: skip
        del many
        backend.close()

        if args.variants:
            out["variants"] = {}
            for name, sql in {"as shipped": None, **VARIANTS}.items():
                backend, queue = fresh(sql)
                out["variants"][name] = one_by_one(queue)
                backend.close()
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
