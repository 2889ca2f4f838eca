# ruff: noqa: E501  (a throwaway measurement script; see bench/RESULTS.md)
"""Throwaway measurement for bench/RESULTS.md (PostgreSQL, issue 15): the INSERT trigger with
and without its transition table, interleaved: enqueue_many of N and N one-job enqueues (the
INSERT statements alone, on one autocommit connection), medians.
python -m bench.pgwhy_trigger [N] [ROUNDS]"""

import statistics
import sys
import time

import psycopg

import bench.postgres as bp
from bench import tasks
from joblane import Queue
from joblane.backends.postgres.enqueue import insert
from joblane.config import backend_from_url

N = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
PLAIN = """
CREATE OR REPLACE FUNCTION joblane.notify_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('joblane.' || TG_TABLE_SCHEMA, current_setting('application_name'));
    RETURN NULL;
END $$;
DROP TRIGGER jobs_inserted ON joblane.jobs;
CREATE TRIGGER jobs_inserted AFTER INSERT ON joblane.jobs
FOR EACH STATEMENT EXECUTE FUNCTION joblane.notify_insert()"""
TRANSITION = """
DROP TRIGGER jobs_inserted ON joblane.jobs;
CREATE TRIGGER jobs_inserted AFTER INSERT ON joblane.jobs REFERENCING NEW TABLE AS changed
FOR EACH STATEMENT EXECUTE FUNCTION joblane.notify_change()"""
with bp.postgres_cluster() as cluster:
    url = bp.joblane_url(cluster)
    bp.joblane_reset(cluster, url)
    backend = backend_from_url(url)
    queue = Queue("normal", backend=backend)
    queue.count  # noqa: B018
    times: dict[str, list[float]] = {}
    with psycopg.connect(cluster.dsn("joblane"), autocommit=True) as conn:
        for _ in range(ROUNDS):
            for name, variant in (("transition table", TRANSITION), ("no transition table", PLAIN)):
                conn.execute(variant)  # type: ignore[call-overload]
                built = queue._build_many([Queue.prepare_data(tasks.noop, (i,)) for i in range(N)])
                t0 = time.perf_counter()
                conn.execute(*insert(backend.q, built))
                times.setdefault(f"{name}, many", []).append(time.perf_counter() - t0)
                conn.execute("TRUNCATE joblane.jobs")
                ones = [
                    insert(backend.q, [queue.build_call(tasks.noop, (i,)).record])
                    for i in range(N // 5)
                ]
                t0 = time.perf_counter()
                for one in ones:
                    conn.execute(*one)
                times.setdefault(f"{name}, one", []).append((time.perf_counter() - t0) * 5)
                conn.execute("TRUNCATE joblane.jobs")
    for name, ts in times.items():
        print(
            f"{name}: median {1e6 * statistics.median(ts) / N:.1f} us/job, range {1e6 * min(ts) / N:.1f}-{1e6 * max(ts) / N:.1f}"
        )
    backend.close()
