"""One ``enqueue_many`` of N no-op jobs into a fresh SQLite database, in a fresh
process: step 2 of ``bench.sqlite`` alone, so that it can be repeated many times
for its spread (a single cold call varies by tens of percent on a shared VM).

    for i in $(seq 8); do python -m bench.sqlite_many --jobs 10000; done

Prints jobs/s (wall) and the CPU time of the call; the database goes away after.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time

from bench import tasks
from joblane import Queue
from joblane.config import backend_from_url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="joblane-bench-many-")
    backend = backend_from_url(f"sqlite:///{workdir}/jobs.db")
    try:
        queue = Queue("normal", backend=backend)
        queue.count  # noqa: B018  (connect and create the schema before the clock starts)
        t0, c0 = time.perf_counter(), time.process_time()
        queue.enqueue_many([Queue.prepare_data(tasks.noop, (i,)) for i in range(args.jobs)])
        t1, c1 = time.perf_counter(), time.process_time()
        print(f"{args.jobs / (t1 - t0):.0f}/s wall, cpu {(c1 - c0) * 1000:.1f} ms")
    finally:
        backend.close()
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
