# ruff: noqa: E501, B018, B007  (a throwaway measurement script; see bench/RESULTS.md)
"""Throwaway measurement for bench/RESULTS.md ("Why joblane is behind pgqueuer"): see that section. Run: PYTHONPATH=. .venv/bin/python bench/pgwhy_binary.py"""

import re
import statistics
import time

import psycopg

import bench.postgres as bp
from bench import tasks
from joblane import Queue
from joblane.backends.postgres.records import job_arrays
from joblane.config import backend_from_url

N = 10000
ONE = 1000
with bp.postgres_cluster() as cluster:
    url = bp.joblane_url(cluster)
    bp.joblane_reset(cluster, url)
    backend = backend_from_url(url)
    queue = Queue("normal", backend=backend)
    queue.count
    text_q = backend.q.insert_jobs
    bin_q = re.sub(
        r"%\((\w+)\)s", r"%(\1)b", text_q if isinstance(text_q, str) else text_q.decode()
    )
    res = {}
    with psycopg.connect(cluster.dsn("joblane"), autocommit=True) as conn:
        for rnd in range(3):
            for name, q in (("text", text_q), ("binary", bin_q)):
                a = job_arrays(
                    queue._build_many([Queue.prepare_data(tasks.noop, (i,)) for i in range(N)])
                )
                t0 = time.perf_counter()
                conn.execute(q, a)
                t1 = time.perf_counter()
                res.setdefault(f"many {name} us/job", []).append(1e6 * (t1 - t0) / N)
                conn.execute("SET synchronous_commit=off")
                ones = [job_arrays([queue.build_call(tasks.noop, (i,)).record]) for i in range(ONE)]
                c0 = time.process_time()
                t0 = time.perf_counter()
                for o in ones:
                    conn.execute(q, o)
                t1 = time.perf_counter()
                c1 = time.process_time()
                conn.execute("SET synchronous_commit=on")
                res.setdefault(f"one {name} (async commit) wall us", []).append(
                    1e6 * (t1 - t0) / ONE
                )
                res.setdefault(f"one {name} client cpu us", []).append(1e6 * (c1 - c0) / ONE)
                conn.execute("TRUNCATE joblane.jobs")
    for k, v in res.items():
        print(f"{k:34} median {statistics.median(v):7.1f}  rounds {[round(x) for x in v]}")
    backend.close()
