"""joblane on SQLite against Huey's SQLite mode, same workload, one run.

    python -m bench.sqlite --jobs 10000 --latency-samples 200

Durability on for both: every enqueue is fsynced before it returns (joblane's
default ``synchronous=FULL`` enqueue; Huey's default leaves SQLite at FULL).
The method mirrors ``bench/peers/huey_sqlite.py`` exactly (see its docstring):

1. enqueue_one: N jobs one call at a time into a fresh database (N-1 no-ops,
   then a marker).
2. enqueue_many: N no-op jobs in one ``enqueue_many`` call, fresh database.
3. drain: a worker process (one slot) is started on the N jobs of step 1 but
   gated after imports, backend open and slot fork; drain time is from opening
   the gate to the start of the marker job (the last one, FIFO).
4. latency: the worker idle; each sample sleeps 20 ms, then enqueues a marker
   and waits for its start stamp.

The worker logs at WARNING, as the Huey consumer in its script does.
Results go to stdout as a table and to ``bench/results/sqlite-<date>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import GatedProcess, save_record

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


def gated_worker(url: str, concurrency: int, prefetch: int) -> None:
    """Child: build the worker, fork its slots, say ready, wait for go, then serve."""
    import logging

    from bench import tasks  # noqa: F401  (registers the @job functions)
    from joblane.config import backend_from_url
    from joblane.worker.worker import Worker

    logging.basicConfig(level=logging.WARNING)
    backend = backend_from_url(url)
    worker = Worker(backend, ["normal"], concurrency=concurrency, prefetch=prefetch)

    def gate() -> None:
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        sys.stdin.readline()

    worker.run(on_ready=gate)


def gated_worker_process(url: str, fifo: Path, concurrency: int, prefetch: int) -> GatedProcess:
    """A joblane worker process, gated after its slots are up (see :func:`gated_worker`)."""
    cmd = [sys.executable, "-m", "bench.sqlite", "--child", url,
           "--concurrency", str(concurrency), "--prefetch", str(prefetch)]  # fmt: skip
    env = dict(os.environ, JOBLANE_BENCH_FIFO=str(fifo), PYTHONPATH=str(ROOT))
    return GatedProcess(cmd, env=env, cwd=ROOT, stop_signal=signal.SIGTERM)


def measure_joblane(jobs: int, samples: int, url: str, workdir: Path, concurrency: int,
                    prefetch: int, reset: Callable[[], None],
                    used_memory: Callable[[], int] | None = None) -> dict[str, Any]:  # fmt: skip
    """joblane's side on the backend at ``url``; ``reset`` empties that backend before each
    enqueue step, ``used_memory`` (if given) reads the store's memory in bytes around the
    one-by-one enqueue (``memory_per_job_bytes``). The FIFO lives in ``workdir``."""
    from bench import tasks
    from bench.common import LATENCY_IDLE_S, MarkReader, percentile
    from joblane import Queue
    from joblane.config import backend_from_url

    fifo = workdir / "joblane-marks.fifo"
    fifo.unlink(missing_ok=True)
    os.mkfifo(fifo)
    os.environ["JOBLANE_BENCH_FIFO"] = str(fifo)
    reader = MarkReader(fifo)
    result: dict[str, Any] = {}
    try:
        # 2. enqueue_many first, on its own fresh database.
        reset()
        backend = backend_from_url(url)
        queue = Queue("normal", backend=backend)
        queue.count  # noqa: B018  (connect and create the schema before the clock starts)
        t0 = time.perf_counter()
        queue.enqueue_many([Queue.prepare_data(tasks.noop, (i,)) for i in range(jobs)])
        result["enqueue_many_per_s"] = jobs / (time.perf_counter() - t0)
        backend.close()

        # 1. enqueue one by one.
        reset()
        backend = backend_from_url(url)
        queue = Queue("normal", backend=backend)
        queue.count  # noqa: B018  (as above; Huey's side also connects before its clock)
        memory_before = used_memory() if used_memory else 0
        t0 = time.perf_counter()
        for i in range(jobs - 1):
            queue.enqueue(tasks.noop, i)
        queue.enqueue(tasks.mark, jobs - 1)
        result["enqueue_one_per_s"] = jobs / (time.perf_counter() - t0)
        if used_memory:
            result["memory_per_job_bytes"] = (used_memory() - memory_before) / jobs

        # 3. drain, 4. latency.
        worker = gated_worker_process(url, fifo, concurrency, prefetch)
        try:
            t_go = worker.go()
            t_end = reader.wait(jobs - 1, 600, worker.alive)
            result["drain_per_s"] = jobs / (t_end - t_go)
            if queue.count:
                raise RuntimeError("marker ran but jobs are still queued: not FIFO?")
            latencies = []
            for s in range(samples):
                time.sleep(LATENCY_IDLE_S)
                t0m = time.monotonic()
                queue.enqueue(tasks.mark, s)
                latencies.append(reader.wait(s, 30, worker.alive) - t0m)
        finally:
            worker.stop()
        lat_ms = [x * 1000 for x in latencies]
        result["latency_p50_ms"] = percentile(lat_ms, 50) if lat_ms else None
        result["latency_p99_ms"] = percentile(lat_ms, 99) if lat_ms else None
        backend.close()
    finally:
        reader.close()
        fifo.unlink(missing_ok=True)
    return result


def measure_huey(jobs: int, samples: int, workdir: Path) -> dict[str, Any] | None:
    python = BENCH / ".venvs" / "huey" / "bin" / "python"
    subprocess.run(["bash", str(BENCH / "peers" / "setup_env.sh"), "huey"], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    out = subprocess.run(
        [str(python), str(BENCH / "peers" / "huey_sqlite.py"), "--jobs", str(jobs),
         "--latency-samples", str(samples), "--workdir", str(workdir / "huey")],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(out.stdout)  # type: ignore[no-any-return]


ROWS = (
    ("enqueue one by one (jobs/s)", "enqueue_one_per_s"),
    ("enqueue_many (jobs/s)", "enqueue_many_per_s"),
    ("drain, one worker process (jobs/s)", "drain_per_s"),
    ("enqueue-to-start p50 (ms)", "latency_p50_ms"),
    ("enqueue-to-start p99 (ms)", "latency_p99_ms"),
)


def render(joblane: dict[str, Any], huey: dict[str, Any] | None) -> str:
    lines = ["| measure | joblane | huey | joblane / huey |", "| --- | ---: | ---: | ---: |"]
    for title, key in ROWS:
        mine = joblane.get(key)
        theirs = huey.get(key) if huey else None
        ratio = f"{mine / theirs:.2f}x" if mine and theirs else "-"
        lines.append(f"| {title} | {_fmt(mine)} | {_fmt(theirs)} | {ratio} |")
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="joblane vs Huey on SQLite")
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--prefetch", type=int, default=0)
    parser.add_argument("--no-peer", action="store_true", help="skip Huey")
    parser.add_argument("--workdir", type=Path, default=BENCH / "results" / "work")
    parser.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        gated_worker(args.child, args.concurrency, args.prefetch)
        return 0
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    huey = None if args.no_peer else measure_huey(args.jobs, args.latency_samples, workdir)
    from bench.common import fresh_db

    db = workdir / "joblane.db"
    mine = measure_joblane(args.jobs, args.latency_samples, f"sqlite:///{db}", workdir,
                           args.concurrency, args.prefetch, lambda: fresh_db(db))  # fmt: skip
    table = render(mine, huey)
    print(table)
    save_record("sqlite", {
        "command": " ".join(["python -m bench.sqlite", *(argv or sys.argv[1:])]),
        "machine": {"sqlite": sqlite3.sqlite_version},
        "joblane": mine, "huey": huey,
    })  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
