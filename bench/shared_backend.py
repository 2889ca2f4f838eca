"""``Queue(name, url=URL).enqueue(...)`` per call: a backend opened for each
call (what joblane 0.1.0 did) against the one shared per URL in the process
(``joblane.config.shared_backend``), on SQLite and Redis, in one run.

    .venv/bin/python -m bench.shared_backend [--calls 300]
"""

from __future__ import annotations

import argparse
import tempfile
import timeit
from collections.abc import Callable
from pathlib import Path

from bench.redis import redis_server
from joblane.client import Queue
from joblane.config import backend_from_url


def per_call(fn: Callable[[], object], calls: int) -> float:
    """Microseconds per call, best of three runs of *calls*."""
    fn()
    return min(timeit.repeat(fn, number=calls, repeat=3)) / calls * 1e6


def measure(url: str, calls: int) -> tuple[float, float]:
    def opened_each_time() -> None:
        backend = backend_from_url(url)
        try:
            Queue("bench", backend=backend).enqueue("os.getpid")
        finally:
            backend.close()

    def shared() -> None:
        Queue("bench", url=url).enqueue("os.getpid")

    return per_call(opened_each_time, calls), per_call(shared, calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        urls = {
            "sqlite": f"sqlite:///{db}",
            "sqlite?durability=normal": f"sqlite:///{db}?durability=normal",
        }
        with redis_server(Path(tmp)) as redis_url:
            urls["redis"] = redis_url
            for name, url in urls.items():
                each, shared = measure(url, args.calls)
                print(
                    f"{name:25s} opened per call {each:8.1f} us   shared {shared:8.1f} us   "
                    f"{each / shared:5.1f}x"
                )


if __name__ == "__main__":
    main()
