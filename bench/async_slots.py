"""Coroutine jobs that wait (asyncio.sleep, standing for a network call), run
by one worker on a SQLite file: slots running one job at a time against slots
running many (``jobs_per_slot``), and sub-millisecond jobs both ways.

    .venv/bin/python -m bench.async_slots [--jobs 400] [--wait 0.1]

Each row: the worker's setting, how many processes it forked, and the time to
drain the queue (fork included), in one run on this machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench import tasks
from joblane.client import Queue
from joblane.config import backend_from_url
from joblane.worker.worker import Worker


def drain(path: Path, func: object, args: tuple[object, ...], jobs: int, *,
          concurrency: int, per_slot: int) -> float:  # fmt: skip
    backend = backend_from_url(f"sqlite:///{path}")
    queue = Queue("normal", backend=backend)
    queue.enqueue_many([Queue.prepare_data(func, args) for _ in range(jobs)])  # type: ignore[arg-type]
    worker = Worker(backend, ["normal"], concurrency=concurrency, jobs_per_slot=per_slot,
                    burst=True)  # fmt: skip
    start = time.perf_counter()
    stats = worker.run(install_signals=False)
    took = time.perf_counter() - start
    assert stats.finished == jobs, stats
    backend.close()
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=400)
    parser.add_argument("--wait", type=float, default=0.1)
    parser.add_argument("--short-jobs", type=int, default=5000)
    opts = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        waiting = f"{opts.jobs} jobs awaiting {opts.wait:g} s"
        for n, (concurrency, per_slot) in enumerate([(4, 1), (50, 1), (4, 50), (1, 200)]):
            took = drain(Path(tmp) / f"w{n}.db", tasks.io_wait, (opts.wait,), opts.jobs,
                         concurrency=concurrency, per_slot=per_slot)  # fmt: skip
            rows.append((waiting, concurrency, per_slot, took, opts.jobs / took))
        short = f"{opts.short_jobs} no-op jobs"
        for n, (concurrency, per_slot) in enumerate([(2, 1), (2, 8)]):
            took = drain(Path(tmp) / f"s{n}.db", tasks.noop, (1,), opts.short_jobs,
                         concurrency=concurrency, per_slot=per_slot)  # fmt: skip
            rows.append((short, concurrency, per_slot, took, opts.short_jobs / took))
    print("| jobs | concurrency (processes) | jobs_per_slot | drain (s) | jobs/s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for what, concurrency, per_slot, took, rate in rows:
        print(f"| {what} | {concurrency} | {per_slot} | {took:.2f} | {rate:,.0f} |")


if __name__ == "__main__":
    main()
