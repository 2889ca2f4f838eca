"""SQLite's enqueue and claim at a large backlog, by page cache size, each run in a new process.

    python -m bench.sqlite_growth --sizes 1000 1000000 --cache-kib 2000 16384 --repeat 3

For each size N: one file of N waiting + N finished jobs is filled once (``bench.scale``'s
fill, then a ``wal_checkpoint(TRUNCATE)``). Then, ``--repeat`` times, for each page cache size
in turn: the file is copied and synced, and a new process opens it with that
``cache_size`` (instead of the backend's own) and measures ``bench.scale``'s enqueue and claim
costs (``--sample`` jobs each: us/job, the median of five parts). A new process and a new copy
each time, so that no run inherits another's page cache or WAL. Run it under ``strace -f -c``
(or ``-e trace=pread64``) to count the page reads. Prints one line per run; writes nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def fill(path: Path, n: int) -> None:
    from bench import scale
    from joblane.config import backend_from_url

    backend = backend_from_url(f"sqlite:///{path}")
    try:
        scale.fill_queued(backend, scale.QUEUE, n)
        scale.fill_finished(backend, n)
    finally:
        backend.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def measure(path: Path, cache_kib: int, sample: int) -> str:
    """In this (new) process: the costs on the file at *path* with *cache_kib*."""
    from bench import scale
    from joblane.backends.sqlite import database
    from joblane.config import backend_from_url

    database._CACHE_SIZE = f"PRAGMA cache_size = -{cache_kib}"  # type: ignore[misc]
    backend = backend_from_url(f"sqlite:///{path}")
    try:
        enqueue = scale.enqueue_cost(backend, sample)
        claim = scale.claim_cost(backend, sample)
    finally:
        backend.close()
    return f"enqueue_us={enqueue:.1f} claim_us={claim:.1f} load1={os.getloadavg()[0]:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 1_000_000])
    parser.add_argument("--cache-kib", type=int, nargs="+", default=[2_000, 16_384])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sample", type=int, default=2_000)
    parser.add_argument("--child", nargs=3, metavar=("PATH", "CACHE_KIB", "SAMPLE"),
                        help=argparse.SUPPRESS)  # fmt: skip
    args = parser.parse_args(argv)
    if args.child:
        print(measure(Path(args.child[0]), int(args.child[1]), int(args.child[2])), flush=True)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-sqlite-growth-") as tmp:
        for n in args.sizes:
            template = Path(tmp) / f"template-{n}.db"
            fill(template, n)
            work = Path(tmp) / "work.db"
            for _ in range(args.repeat):
                for cache in args.cache_kib:
                    for suffix in ("", "-wal", "-shm"):
                        Path(f"{work}{suffix}").unlink(missing_ok=True)
                    shutil.copyfile(template, work)
                    os.sync()
                    out = subprocess.run(
                        [sys.executable, "-m", "bench.sqlite_growth", "--child", str(work),
                         str(cache), str(args.sample)],
                        cwd=ROOT, check=True, capture_output=True, text=True,
                    ).stdout.strip()  # fmt: skip
                    print(f"N={n} cache_kib={cache} {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
