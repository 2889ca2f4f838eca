# ruff: noqa: E501  (a throwaway measurement script; see bench/RESULTS.md)
"""Throwaway measurement for bench/RESULTS.md ("Why joblane is behind pgqueuer"): see that section. Run: PYTHONPATH=. .venv/bin/python bench/pgwhy_explain.py"""

import time

import psycopg

import bench.postgres as bp
from bench import tasks
from joblane import Queue
from joblane.config import backend_from_url

with bp.postgres_cluster() as cluster:
    url = bp.joblane_url(cluster)
    bp.joblane_reset(cluster, url)
    backend = backend_from_url(url)
    queue = Queue("normal", backend=backend)
    queue.enqueue_many([Queue.prepare_data(tasks.noop, (i,)) for i in range(10000)])
    with psycopg.connect(cluster.dsn("joblane"), autocommit=True) as conn:
        notes = []
        conn.add_notice_handler(lambda d: notes.append(d.message_primary))
        conn.execute("LOAD 'auto_explain'")
        conn.execute("SET auto_explain.log_min_duration = 0")
        conn.execute("SET auto_explain.log_analyze = on")
        conn.execute("SET auto_explain.log_timing = off")
        conn.execute("SET auto_explain.log_nested_statements = off")
        conn.execute("SET client_min_messages = log")
        for rnd in range(8):
            ids = [
                r[0]
                for r in conn.execute(
                    "select id from joblane.jobs where status='queued' order by position limit 30"
                )
            ]
            conn.execute(
                "update joblane.jobs set status='started', lease_token=id where id = any(%s)",
                (ids,),
            )
            k = len(ids)
            p = dict(
                id=ids,
                token=ids,
                status=["finished"] * k,
                ended=[1.0] * k,
                result=[None] * k,
                last_job_result=["ok"] * k,
                retries_left=[0] * k,
                attempts=[1] * k,
                scheduled=[None] * k,
                enqueued=[1.0] * k,
                expires_at=[2.0] * k,
                started=[1.0] * k,
                lost_attempts=[0] * k,
                front=[False] * k,
                mark=[None] * k,
                start_ids=[],
                start_tokens=[],
                start_times=[],
            )
            notes.clear()
            t0 = time.perf_counter()
            rows = conn.execute(backend.q.settle, p, prepare=True).fetchall()
            dt = time.perf_counter() - t0
            print("round", rnd, "rows", len(rows), "ms", round(dt * 1e3, 2))
            if rnd in (0, 7):
                for n in notes:
                    print(n[:6000])
    backend.close()
