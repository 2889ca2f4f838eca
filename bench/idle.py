"""What an idle ``joblane worker`` costs on SQLite, and how fast it still wakes.

    python -m bench.idle --settle 5 --measure 20 --idle 1,10,60 --samples 3
    python -m bench.idle --src /work/main/src     # the same, on another checkout's code
    python -m bench.idle --polling                # Linux without inotify (the fallback)

1. A ``joblane worker -c 2`` process (the real CLI, bench.tasks imported) starts on
   a fresh database; a first marker job proves it serves.
2. cpu: after *settle* idle seconds, the CPU time (user + system, from
   ``/proc/<pid>/stat``) of the worker and all its descendants (its slots) over
   *measure* seconds, as a percentage of one core.
3. wake-up: for each idle time in *idle*, *samples* times: sleep that long, then
   enqueue a marker from this process (another process than the worker) and
   time from just before the enqueue to the marker's start stamp.

``--src`` puts another checkout's ``src`` first on the worker's and this
script's ``PYTHONPATH`` (the "before" figures: main's code in this venv).
Linux only (``/proc``). Results go to stdout and ``bench/results/idle-<date>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import MarkReader, percentile, save_record

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")


def _descendants(pid: int) -> list[int]:
    found = [pid]
    for p in found:  # grows while walking
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                children = Path(f"/proc/{p}/task/{task}/children").read_text().split()
            except OSError:
                continue
            found.extend(int(c) for c in children)
    return found


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


_NO_INOTIFY = (
    "import joblane.backends.sqlite.watch as w; "
    "w._WalWatch.start = classmethod(lambda cls, path, poke: None); "
)


def run(
    settle: float, measure: float, idles: list[float], samples: int, src: str | None, polling: bool
) -> dict:
    env = dict(os.environ)
    path_parts = [p for p in (src, str(ROOT), env.get("PYTHONPATH")) if p]
    env["PYTHONPATH"] = os.pathsep.join(path_parts)
    tmp = Path(tempfile.mkdtemp(prefix="joblane-bench-idle-"))
    fifo = tmp / "marks"
    os.mkfifo(fifo)
    env["JOBLANE_BENCH_FIFO"] = str(fifo)
    url = f"sqlite:///{tmp / 'jobs.db'}"
    import joblane
    from bench import tasks
    from joblane import Queue  # after sys.path is set (see main)
    from joblane.config import backend_from_url

    backend = backend_from_url(url)
    queue = Queue("normal", backend=backend)
    reader = MarkReader(fifo)
    code = (_NO_INOTIFY if polling else "") + "from joblane.cli import main; main()"
    cmd = [sys.executable, "-c", code, "--url", url,
           "worker", "-c", "2", "-q", "normal", "-i", "bench.tasks"]  # fmt: skip
    log = (tmp / "worker.log").open("w")
    worker = subprocess.Popen(cmd, env=env, cwd=tmp, stdout=log, stderr=log)
    result: dict = {"joblane": os.path.dirname(joblane.__file__), "polling": polling,
                    "settle_s": settle, "measure_s": measure}  # fmt: skip
    try:
        queue.enqueue(tasks.mark, 0)
        reader.wait(0, 60, lambda: worker.poll() is None)
        time.sleep(settle)
        pids = _descendants(worker.pid)
        cpu0, each0, t0 = _cpu_seconds(pids), [_cpu_seconds([p]) for p in pids], time.monotonic()
        time.sleep(measure)
        cpu1, each1, t1 = _cpu_seconds(pids), [_cpu_seconds([p]) for p in pids], time.monotonic()
        result["processes"] = len(pids)
        result["idle_cpu_percent"] = 100 * (cpu1 - cpu0) / (t1 - t0)
        # the worker first, then its slots
        spent = zip(each0, each1, strict=True)
        result["per_process_percent"] = [100 * (b - a) / (t1 - t0) for a, b in spent]
        n = 0
        wake: dict[str, dict[str, float]] = {}
        for idle in idles:
            lat = []
            for _ in range(samples):
                n += 1
                time.sleep(idle)
                t_enq = time.monotonic()
                queue.enqueue(tasks.mark, n)
                lat.append(1000 * (reader.wait(n, 60, lambda: worker.poll() is None) - t_enq))
            wake[f"{idle:g}"] = {"p50_ms": percentile(lat, 50), "max_ms": max(lat)}
        result["wake_after_idle_s"] = wake
    finally:
        worker.terminate()
        worker.wait(60)
        log.close()
        reader.close()
        backend.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--measure", type=float, default=20.0)
    parser.add_argument("--idle", default="1,10,60", help="idle seconds before each wake-up")
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--src", help="another checkout's src directory to measure")
    parser.add_argument("--polling", action="store_true", help="the worker without inotify")
    args = parser.parse_args()
    if args.src:
        sys.path.insert(0, args.src)
    idles = [float(x) for x in args.idle.split(",") if x]
    result = run(args.settle, args.measure, idles, args.samples, args.src, args.polling)
    print(json.dumps(result, indent=2))
    print("saved", save_record("idle", result))


if __name__ == "__main__":
    main()
