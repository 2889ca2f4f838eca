"""``enqueue_many`` of N no-op jobs on Redis, each in a fresh process: step 2 of
``bench.redis`` alone, repeated for its spread, and optionally alternated between
checkouts for an A/B comparison.

    python -m bench.redis_bulk --jobs 10000 --rounds 8
    python -m bench.redis_bulk --rounds 8 --src old=/path/to/old/src --src new=src

Starts ONE throwaway ``redis-server`` (as ``bench.redis`` does: a free port on
127.0.0.1, no persistence). Each round runs one fresh process per code, in turn
(the order alternates from round to round), which empties the database,
connects, and times ``Queue.enqueue_many([Queue.prepare_data(noop, (i,)) for i in
range(N)])`` as ``bench.redis`` does (the items' list included). Per process:
jobs/s (wall), the process's CPU time of the call and the part of it spent in
garbage collection, and Redis's own time in the ``FCALL``s (``INFO
commandstats``, reset before the call). ``--warm`` times a second call in the
same process as well. Prints each process's line, then the median and range per
code and the ratio of each round's pair to the first code's.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _child(url: str, jobs: int, warm: bool) -> dict[str, Any]:
    import redis

    import joblane
    from bench import tasks
    from joblane import Queue
    from joblane.config import backend_from_url

    admin = redis.Redis.from_url(url)
    admin.flushall()
    backend = backend_from_url(url)
    queue = Queue("normal", backend=backend)
    queue.count  # noqa: B018  (connect and load the scripts before the clock starts)
    gc_time = [0.0]
    started = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.process_time()
        else:
            gc_time[0] += time.process_time() - started[0]

    def one() -> dict[str, float]:
        admin.config_resetstat()
        gc_time[0] = 0.0
        gc.callbacks.append(on_gc)
        t0, c0 = time.perf_counter(), time.process_time()
        queue.enqueue_many([Queue.prepare_data(tasks.noop, (i,)) for i in range(jobs)])
        t1, c1 = time.perf_counter(), time.process_time()
        gc.callbacks.remove(on_gc)
        stats = admin.info("commandstats")
        fcall = stats.get("cmdstat_fcall", {})
        return {
            "per_s": jobs / (t1 - t0),
            "wall_us": (t1 - t0) / jobs * 1e6,
            "cpu_us": (c1 - c0) / jobs * 1e6,
            "gc_us": gc_time[0] / jobs * 1e6,
            "redis_us": float(fcall.get("usec", 0)) / jobs,
        }

    result: dict[str, Any] = {"joblane": joblane.__file__, "cold": one()}
    if warm:
        admin.flushall()
        result["warm"] = one()
    stored = queue.count
    if stored != jobs:
        raise RuntimeError(f"{stored} jobs stored, not {jobs}")
    backend.close()
    admin.close()
    return result


def _line(label: str, kind: str, r: dict[str, float]) -> str:
    return (
        f"{label:>8} {kind:4} {r['per_s']:9,.0f}/s  wall {r['wall_us']:5.1f} us  "
        f"cpu {r['cpu_us']:5.1f} (gc {r['gc_us']:4.1f})  redis {r['redis_us']:4.1f} us/job"
    )


def _summary(label: str, kind: str, runs: list[dict[str, float]]) -> str:
    rates = [r["per_s"] for r in runs]
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    return (
        f"{label:>8} {kind:4} median {med['per_s']:9,.0f}/s ({min(rates):,.0f}-{max(rates):,.0f})"
        f"  wall {med['wall_us']:.1f}  cpu {med['cpu_us']:.1f} (gc {med['gc_us']:.1f})"
        f"  redis {med['redis_us']:.1f} us/job"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument(
        "--src", action="append", default=[], help="LABEL=DIR: a checkout's src directory"
    )
    parser.add_argument("--warm", action="store_true", help="time a second call per process")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.jobs, args.warm)))
        return

    from bench.redis import redis_server

    codes = [tuple(s.split("=", 1)) for s in args.src] or [("this", str(ROOT / "src"))]
    runs: dict[str, dict[str, list[dict[str, float]]]] = {
        label: {"cold": [], "warm": []} for label, _ in codes
    }
    ratios: list[float] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-redis-bulk-") as tmp,
        redis_server(Path(tmp)) as url,
    ):
        for n in range(args.rounds):
            order = codes if n % 2 == 0 else codes[::-1]
            rates: dict[str, float] = {}
            for label, src in order:
                env = {**os.environ, "PYTHONPATH": f"{Path(src).resolve()}:{ROOT}"}
                cmd = [sys.executable, "-m", "bench.redis_bulk", "--child", url,
                       "--jobs", str(args.jobs)] + (["--warm"] if args.warm else [])  # fmt: skip
                out = subprocess.run(cmd, env=env, cwd=ROOT, check=True, capture_output=True,
                                     text=True).stdout  # fmt: skip
                result = json.loads(out)
                if n == 0:
                    print(f"{label}: joblane from {result['joblane']}")
                for kind in ("cold", "warm"):
                    if kind in result:
                        runs[label][kind].append(result[kind])
                        print(_line(label, kind, result[kind]), flush=True)
                rates[label] = result["cold"]["per_s"]
            if len(codes) > 1:
                ratios.append(rates[codes[-1][0]] / rates[codes[0][0]])
    print(f"load average {os.getloadavg()[0]:.2f}")
    for label, _ in codes:
        for kind, results in runs[label].items():
            if results:
                print(_summary(label, kind, results))
    if ratios:
        print(
            f"{codes[-1][0]} / {codes[0][0]} (cold, round by round): "
            + " ".join(f"{r:.2f}" for r in ratios)
            + f"; median {statistics.median(ratios):.2f}x"
        )


if __name__ == "__main__":
    main()
