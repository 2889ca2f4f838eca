"""The hot path of the SQLite backend, two source trees alternated: what keeping
counts costs an enqueue, an enqueue_many and a claim.

    python -m bench.sqlite_counts --trees OLD NEW --rounds 6

Each tree is a checkout of joblane (its ``src`` is imported). Each round runs every
tree once, in turn (the order alternates from round to round), each in a new
process on new files:

- ``enqueue_full_us``: ``Queue.enqueue`` one by one, the default durability (an fsync
  each), wall time per job, the median of five parts of ``--sample`` jobs;
- ``enqueue_normal_us`` / ``enqueue_normal_cpu_us``: the same at ``durability=normal``
  (no fsync: the statements), wall and CPU time per job;
- ``many_ms`` / ``many_cpu_ms``: one ``enqueue_many`` of ``--many`` jobs, wall and CPU;
- ``claim_us`` / ``claim_cpu_us``: ``Backend.claim`` of one job a call, each settling
  the previous one (``bench.scale``'s claim path), wall and CPU per job;
- ``claim10_us``: the same, ten jobs a call (a worker with prefetch), per job.

Prints one line per run, the medians per tree with their range and, for two trees,
the ratios (the medians', and the median and quartiles of each round's); writes nothing.
"""

from __future__ import annotations

import argparse
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
PARTS = 5


def _per_job(fn: Any, sample: int) -> tuple[float, float]:
    """Median wall and CPU microseconds per job of *fn(i)* over PARTS parts."""
    step = max(1, sample // PARTS)
    walls, cpus = [], []
    for start in range(0, sample, step):
        part = range(start, min(sample, start + step))
        t0, c0 = time.perf_counter(), time.process_time()
        for i in part:
            fn(i)
        walls.append((time.perf_counter() - t0) / len(part) * 1e6)
        cpus.append((time.process_time() - c0) / len(part) * 1e6)
    return statistics.median(walls), statistics.median(cpus)


def child(sample: int, many: int) -> dict[str, float]:
    from bench import tasks
    from joblane import Queue
    from joblane.backends.sqlite import SQLiteBackend
    from joblane.core.outcome import Outcome, decide

    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-counts-") as tmp:
        full = SQLiteBackend(Path(tmp) / "full.db")
        queue = Queue("normal", backend=full)
        queue.count  # noqa: B018  (open and create the schema first)
        out["enqueue_full_us"], _ = _per_job(lambda i: queue.enqueue(tasks.noop, i), sample)
        full.close()

        normal = SQLiteBackend(Path(tmp) / "normal.db", durability="normal")
        queue = Queue("normal", backend=normal)
        queue.count  # noqa: B018
        wall, cpu = _per_job(lambda i: queue.enqueue(tasks.noop, i), sample * 3)
        out["enqueue_normal_us"], out["enqueue_normal_cpu_us"] = wall, cpu

        success = Outcome.success(b"null")
        for limit, key in ((1, "claim"), (10, "claim10")):
            pending: list[Any] = []
            calls = sample * 3 // limit // 2  # half the jobs enqueued above, per limit

            def claim(_: int, limit: int = limit) -> None:
                nonlocal pending
                now = normal.now()
                _, jobs = normal.claim(["normal"], worker="bench", limit=limit,
                                       lease_seconds=60.0, now=now, settle=pending)  # fmt: skip
                if len(jobs) != limit:
                    raise RuntimeError("the backlog ran dry")
                pending = [decide(job, job.lease_token or "", success, now) for job in jobs]

            wall, cpu = _per_job(claim, calls)
            out[f"{key}_us"], out[f"{key}_cpu_us"] = wall / limit, cpu / limit
            normal.settle(pending, normal.now())
        normal.close()

        bulk = SQLiteBackend(Path(tmp) / "many.db")
        queue = Queue("normal", backend=bulk)
        queue.count  # noqa: B018
        items = [Queue.prepare_data(tasks.noop, (i,)) for i in range(many)]
        t0, c0 = time.perf_counter(), time.process_time()
        queue.enqueue_many(items)
        out["many_ms"] = (time.perf_counter() - t0) * 1e3
        out["many_cpu_ms"] = (time.process_time() - c0) * 1e3
        bulk.close()
    from joblane.backends.sqlite.queries import SCHEMA_VERSION

    out["schema"] = SCHEMA_VERSION  # which code ran
    out["load1"] = os.getloadavg()[0]
    return out


def run_tree(tree: Path, sample: int, many: int) -> dict[str, float]:
    # Run as a script (its directory first on the path, not the working directory's).
    env = dict(os.environ, PYTHONPATH=f"{tree / 'src'}:{ROOT}")
    cmd = [sys.executable, __file__, "--child", str(sample), str(many)]
    done = subprocess.run(cmd, env=env, cwd=tree, capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", type=Path, nargs="+", default=[ROOT])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--sample", type=int, default=1_000)
    parser.add_argument("--many", type=int, default=10_000)
    parser.add_argument("--child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child)), flush=True)
        return 0
    runs: dict[int, list[dict[str, float]]] = {i: [] for i in range(len(args.trees))}
    for r in range(args.rounds):
        order = list(range(len(args.trees)))
        if r % 2:
            order.reverse()
        for i in order:
            result = run_tree(args.trees[i], args.sample, args.many)
            runs[i].append(result)
            shown = " ".join(f"{k}={v:.1f}" for k, v in result.items())
            print(f"round {r + 1} tree {i}: {shown}", flush=True)
    print()
    keys = [k for k in runs[0][0] if k not in ("load1", "schema")]
    for i, tree in enumerate(args.trees):
        print(f"tree {i} ({tree.name}), median [min-max] of {len(runs[i])}:")
        for key in keys:
            values = sorted(run[key] for run in runs[i])
            print(f"  {key:22} {statistics.median(values):9.1f} [{values[0]:.1f}-{values[-1]:.1f}]")
    if len(args.trees) == 2:
        print("tree 1 / tree 0: ratio of the medians; median [quartiles] of the rounds' ratios:")
        for key in keys:
            a = statistics.median(run[key] for run in runs[0])
            b = statistics.median(run[key] for run in runs[1])
            paired = sorted(new[key] / old[key] for old, new in zip(*runs.values(), strict=True))
            q = len(paired) // 4
            print(f"  {key:22} {b / a:.3f}   {statistics.median(paired):.3f} "
                  f"[{paired[q]:.3f}-{paired[-q - 1]:.3f}]")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
