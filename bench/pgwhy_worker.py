# ruff: noqa: E501  (a throwaway measurement script; see bench/RESULTS.md)
"""Throwaway measurement for bench/RESULTS.md (PostgreSQL, issue 15): cProfile of the worker's
main process (its main thread) draining N no-op jobs in burst mode, on bench/postgres.py's
throwaway cluster. python -m bench.pgwhy_worker [--jobs 10000] [--concurrency 2]"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

import bench.postgres as bp
from bench import tasks
from joblane import Queue
from joblane.config import backend_from_url
from joblane.worker.worker import Worker


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--top", type=int, default=35)
    args = parser.parse_args()
    with bp.postgres_cluster() as cluster:
        url = bp.joblane_url(cluster)
        bp.joblane_reset(cluster, url)
        backend = backend_from_url(url)
        Queue("normal", backend=backend).enqueue_many(
            [Queue.prepare_data(tasks.noop, (i,)) for i in range(args.jobs)]
        )
        worker = Worker(
            backend, ["normal"], concurrency=args.concurrency, burst=True, with_scheduler=False
        )
        profile = cProfile.Profile()
        t0, c0 = time.perf_counter(), time.process_time()
        profile.enable()
        worker.run(install_signals=False)
        profile.disable()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(
            f"{args.jobs / wall:.0f} jobs/s (profiled), main process CPU {cpu / args.jobs * 1e6:.0f} us/job"
        )
        st = pstats.Stats(profile)
        st.sort_stats("tottime").print_stats(args.top)
        st.print_callers("connection.py:479")
        st.print_callers("database.py:163")
        backend.close()


if __name__ == "__main__":
    main()
