"""Enqueue-to-start latency of two joblane checkouts on Redis, sample by sample.

    python -m bench.paired_latency --before ../joblane-old --samples 600

Whole benchmark runs of one code, then the other, do not separate a change of
a tenth of a millisecond on a shared machine: the p50 of one code moves several
times that between runs, with the machine's state. Here both codes run at once:
two throwaway ``redis-server``\\ s (``bench.redis.redis_server``), a gated worker
(``bench.sqlite --child``) from each checkout on its own server, and the samples
alternate between them one by one (the order swapped every other sample), each
after ``LATENCY_IDLE_S`` of idle, so both see the same machine. The producer is
this checkout's client. Prints p50/p90/p99 of each and the median of the
per-pair ratios (after / before).

*--before* and *--after* are checkouts of joblane (the root of the repository,
with ``src/`` and ``bench/``); *--after* defaults to this one.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.common import LATENCY_IDLE_S, GatedProcess, MarkReader, percentile
from bench.redis import redis_server

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="a joblane checkout")
    parser.add_argument("--after", type=Path, default=ROOT, help="a joblane checkout")
    parser.add_argument("--samples", type=int, default=600, help="per checkout")
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args(argv)
    from bench import tasks
    from joblane import Queue
    from joblane.config import backend_from_url

    checkouts = {"before": args.before.resolve(), "after": args.after.resolve()}
    latencies: dict[str, list[float]] = {name: [] for name in checkouts}
    with tempfile.TemporaryDirectory(prefix="paired-") as tmp, contextlib.ExitStack() as stack:
        workdir = Path(tmp)
        sides = {}
        for name, root in checkouts.items():
            url = stack.enter_context(redis_server(workdir))
            fifo = workdir / f"{name}.fifo"
            os.mkfifo(fifo)
            reader = MarkReader(fifo)
            stack.callback(reader.close)
            env = dict(os.environ, JOBLANE_BENCH_FIFO=str(fifo),
                       PYTHONPATH=f"{root / 'src'}{os.pathsep}{root}")  # fmt: skip
            cmd = [sys.executable, "-m", "bench.sqlite", "--child", url,
                   "--concurrency", str(args.concurrency), "--prefetch", "0"]  # fmt: skip
            worker = GatedProcess(cmd, env=env, cwd=root, stop_signal=signal.SIGTERM)
            stack.callback(worker.stop)
            queue = Queue("normal", backend=backend_from_url(url))
            queue.count  # noqa: B018  (connect and load the functions before the clock)
            sides[name] = (worker, reader, queue)
        for worker, _, _ in sides.values():
            worker.go()
        time.sleep(1.0)  # both idle, parked
        order = list(sides)
        for i in range(args.samples):
            for name in order if i % 2 == 0 else order[::-1]:
                worker, reader, queue = sides[name]
                time.sleep(LATENCY_IDLE_S)
                t0 = time.monotonic()
                queue.enqueue(tasks.mark, i)
                latencies[name].append((reader.wait(i, 30, worker.alive) - t0) * 1000)
    for name, values in latencies.items():
        print(f"{name}: p50 {percentile(values, 50):.3f} ms, p90 {percentile(values, 90):.3f} "
              f"ms, p99 {percentile(values, 99):.3f} ms ({checkouts[name]})")  # fmt: skip
    ratios = [b / a for a, b in zip(latencies["before"], latencies["after"], strict=True)]
    print(f"paired ratio after / before, median: {statistics.median(ratios):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
