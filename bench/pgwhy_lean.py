# ruff: noqa: E501, B018  (a throwaway measurement script; see bench/RESULTS.md)
"""Throwaway measurement for bench/RESULTS.md (PostgreSQL, issue 15): enqueue_many of N jobs
through different INSERT forms, interleaved rounds, medians. Run:
PYTHONPATH=. .venv/bin/python bench/pgwhy_lean.py [N] [ROUNDS]"""

import statistics
import sys
import time

import psycopg

import bench.postgres as bp
from bench import tasks
from joblane import Queue
from joblane.backends.postgres import enqueue as pg_enqueue
from joblane.backends.postgres.records import job_arrays
from joblane.config import backend_from_url

N = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
with bp.postgres_cluster() as cluster:
    url = bp.joblane_url(cluster)
    bp.joblane_reset(cluster, url)
    backend = backend_from_url(url)
    queue = Queue("normal", backend=backend)
    queue.count
    forms = {"full (29 arrays)": lambda b: (backend.q.insert_jobs, job_arrays(b))}
    if hasattr(pg_enqueue, "insert"):
        forms["as shipped (enqueue.insert)"] = lambda b: pg_enqueue.insert(backend.q, b)
    times: dict[str, list[float]] = {k: [] for k in forms}
    with psycopg.connect(cluster.dsn("joblane"), autocommit=True) as conn:
        for _ in range(ROUNDS):
            for name, form in forms.items():
                built = queue._build_many([Queue.prepare_data(tasks.noop, (i,)) for i in range(N)])
                t0 = time.perf_counter()
                conn.execute(*form(built))
                times[name].append(time.perf_counter() - t0)
                conn.execute("TRUNCATE joblane.jobs")
    for name, ts in times.items():
        print(
            f"{name}: median {1e6 * statistics.median(ts) / N:.1f} us/job (params + statement), range {1e6 * min(ts) / N:.1f}-{1e6 * max(ts) / N:.1f}"
        )
    backend.close()
