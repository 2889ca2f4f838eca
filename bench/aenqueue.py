"""``await queue.aenqueue(...)`` from one event loop, beside arq's and saq's async enqueue.

    .venv/bin/python -m bench.aenqueue [--jobs 2000] [--concurrency 16] [--repeat 5]
        [--only joblane arq saq] [--profile redis]

One throwaway ``redis-server`` for the run (``bench.redis.redis_server``: a free port on
127.0.0.1, no persistence), FLUSHALL before each system and each step.  Per system, one
event loop (``asyncio.run``) for all its repetitions, its client connected beforehand; each
repetition times N jobs ``noop(i)`` awaited one after another (*sequential*), then N jobs
from *concurrency* tasks at once (*concurrent*); the figure is the median over the
repetitions, in jobs/s.

- joblane: ``Queue("bench").aenqueue(bench.tasks.noop, i)`` on Redis (awaited through
  ``redis.asyncio``), and on SQLite (durability full and normal; the write awaited on a
  thread), with the plain ``queue.enqueue`` in a loop for reference.
- arq and saq: ``bench/peers/redis_aenqueue.py`` in each peer's own virtualenv
  (``bench/peers/setup_env.sh``), against the same server.

``--profile redis`` runs pyinstrument (if installed) over joblane's sequential Redis loop
and prints its text report to stderr instead of measuring.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import tasks
from bench.redis import BENCH, flushall, redis_server, setup_venv
from joblane.client import Queue
from joblane.config import backend_from_url

PEERS = ("arq", "saq")


async def sequential(queue: Queue, jobs: int) -> float:
    noop = tasks.noop
    t0 = time.perf_counter()
    for i in range(jobs):
        await queue.aenqueue(noop, i)
    return jobs / (time.perf_counter() - t0)


async def concurrent(queue: Queue, jobs: int, count: int) -> float:
    each = jobs // count
    noop = tasks.noop

    async def one_task(first: int) -> None:
        for i in range(first, first + each):
            await queue.aenqueue(noop, i)

    t0 = time.perf_counter()
    await asyncio.gather(*(one_task(k * each) for k in range(count)))
    return each * count / (time.perf_counter() - t0)


def plain(queue: Queue, jobs: int) -> float:
    t0 = time.perf_counter()
    for i in range(jobs):
        queue.enqueue(tasks.noop, i)
    return jobs / (time.perf_counter() - t0)


def measure_joblane(url: str, jobs: int, count: int, repeat: int, empty: Any) -> dict[str, Any]:
    backend = backend_from_url(url)
    queue = Queue("bench", backend=backend)
    figures: dict[str, list[float]] = {"enqueue": [], "sequential": [], "concurrent": []}

    async def run_all() -> None:
        await queue.aenqueue(tasks.noop, -1)  # this loop's client connected
        for _ in range(repeat):
            empty(queue)
            figures["sequential"].append(await sequential(queue, jobs))
            empty(queue)
            figures["concurrent"].append(await concurrent(queue, jobs, count))

    try:
        queue.enqueue(tasks.noop, -1)  # connected, warmed up
        for _ in range(repeat):
            empty(queue)
            figures["enqueue"].append(plain(queue, jobs))
        asyncio.run(run_all())
        empty(queue)
    finally:
        backend.close()
    return figures


def measure_peer(peer: str, url: str, jobs: int, count: int, repeat: int) -> dict[str, Any]:
    setup_venv(peer)
    python = BENCH / ".venvs" / peer / "bin" / "python"
    done = subprocess.run(
        [str(python), str(BENCH / "peers" / "redis_aenqueue.py"), "--peer", peer,
         "--redis-url", url, "--jobs", str(jobs), "--concurrency", str(count),
         "--repeat", str(repeat)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{peer}: {done.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def profile(url: str, jobs: int) -> None:
    from pyinstrument import Profiler

    backend = backend_from_url(url)
    queue = Queue("bench", backend=backend)

    async def main() -> None:
        await queue.aenqueue(tasks.noop, -1)
        profiler = Profiler(interval=0.0002, async_mode="enabled")
        profiler.start()
        await sequential(queue, jobs)
        profiler.stop()
        print(profiler.output_text(unicode=False, color=False, show_all=False), file=sys.stderr)

    try:
        asyncio.run(main())
    finally:
        backend.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", nargs="+", choices=("joblane", *PEERS))
    parser.add_argument("--profile", choices=("redis",))
    args = parser.parse_args()
    wanted = args.only or ("joblane", *PEERS)
    rows: list[tuple[str, dict[str, list[float]]]] = []
    with tempfile.TemporaryDirectory() as tmp, redis_server(Path(tmp)) as redis_url:
        if args.profile:
            profile(redis_url, args.jobs)
            return
        if "joblane" in wanted:
            sqlite = {
                "joblane, SQLite (durability=full)": f"sqlite:///{Path(tmp) / 'full.db'}",
                "joblane, SQLite (durability=normal)":
                    f"sqlite:///{Path(tmp) / 'normal.db'}?durability=normal",
            }  # fmt: skip
            for name, url in sqlite.items():
                rows.append((name, measure_joblane(url, args.jobs, args.concurrency,
                                                   args.repeat, lambda q: q.empty())))  # fmt: skip
            flushall(redis_url)
            figures = measure_joblane(redis_url, args.jobs, args.concurrency, args.repeat,
                                      lambda q: flushall(redis_url))  # fmt: skip
            rows.append(("joblane, Redis", figures))
        for peer in PEERS:
            if peer in wanted:
                flushall(redis_url)
                result = measure_peer(peer, redis_url, args.jobs, args.concurrency, args.repeat)
                rows.append((f"{peer} {result['version']}, Redis", result))
    print(f"{args.jobs} jobs, {args.concurrency} tasks, median of {args.repeat} (jobs/s)")
    print(f"{'system':38s} {'enqueue':>9s} {'aenqueue':>9s} {'x' + str(args.concurrency):>9s}")
    for name, figures in rows:
        cells = [
            f"{statistics.median(figures[k]):9.0f}" if figures.get(k) else f"{'-':>9s}"
            for k in ("enqueue", "sequential", "concurrent")
        ]
        print(f"{name:38s} {' '.join(cells)}")
    print(json.dumps({name: figures for name, figures in rows}), file=sys.stderr)


if __name__ == "__main__":
    main()
