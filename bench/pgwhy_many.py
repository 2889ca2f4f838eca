# ruff: noqa: E501, B018  (a throwaway measurement script; see bench/RESULTS.md)
"""Throwaway measurement for bench/RESULTS.md ("Why joblane is behind pgqueuer"): see that section. Run: PYTHONPATH=. .venv/bin/python bench/pgwhy_many.py"""

import cProfile
import io
import pstats
import time

import psycopg

import bench.postgres as bp
from bench import tasks
from joblane import Queue
from joblane.backends.postgres.records import job_arrays
from joblane.config import backend_from_url

bp.SERVER_SETTINGS = (*bp.SERVER_SETTINGS, "shared_preload_libraries=pg_stat_statements")
N = 10000
with bp.postgres_cluster() as cluster:
    url = bp.joblane_url(cluster)
    bp.joblane_reset(cluster, url)
    backend = backend_from_url(url)
    queue = Queue("normal", backend=backend)
    queue.count
    with psycopg.connect(cluster.dsn(), autocommit=True) as c:
        c.execute("CREATE EXTENSION pg_stat_statements")
    for rnd in range(3):
        with psycopg.connect(cluster.dsn(), autocommit=True) as c:
            c.execute("SELECT pg_stat_statements_reset()")
        t0 = time.perf_counter()
        built = queue._build_many([Queue.prepare_data(tasks.noop, (i,)) for i in range(N)])
        t1 = time.perf_counter()
        a = job_arrays(built)
        t2 = time.perf_counter()
        with psycopg.connect(cluster.dsn("joblane"), autocommit=True) as conn:
            pr = cProfile.Profile() if rnd == 2 else None
            if pr:
                pr.enable()
            t3 = time.perf_counter()
            conn.execute(backend.q.insert_jobs, a)
            t4 = time.perf_counter()
            if pr:
                pr.disable()
                s = io.StringIO()
                pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(8)
                print(s.getvalue()[-2200:])
            conn.execute("TRUNCATE joblane.jobs")
        with psycopg.connect(cluster.dsn(), autocommit=True) as c:
            srv = c.execute(
                "select total_exec_time from pg_stat_statements where query like 'INSERT INTO \"joblane\".jobs%'"
            ).fetchone()[0]
        print(
            f"round {rnd}: build {1e6 * (t1 - t0) / N:.1f} us/job, arrays {1e6 * (t2 - t1) / N:.1f}, execute {1e6 * (t4 - t3) / N:.1f} (server exec {1e3 * srv / N:.1f}) total rate {N / ((t2 - t0) + (t4 - t3)):.0f}/s"
        )
    backend.close()
