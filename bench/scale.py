"""How costs grow with the backlog: joblane on SQLite, Redis and PostgreSQL.

    python -m bench.scale --sizes 1000 100000 1000000 --backends sqlite
    python -m bench.scale --soak-minutes 30 --backends sqlite --only-soak
    python -m bench.scale --quick                         # a tiny run of everything

Each backend is a throwaway store made here: an SQLite file in a temporary directory, a
``redis-server`` (``bench.redis.redis_server``: a free port, no persistence) and a PostgreSQL
cluster (``bench.postgres.postgres_cluster``: ``tests/servers.py``'s ``initdb``, a free port,
``fsync=on``), never the machine's own servers; all are stopped and removed at the end.

For each size N of ``--sizes``, on a store emptied first:

1. fill: N no-op jobs waiting in queue ``scale`` (``enqueue_many`` in batches of 5,000, the
   bulk path), and N jobs in the ``finished`` registry of queue ``done`` (up to
   ``--finished``; made the cheapest honest way through the public contract: enqueued with
   ``enqueue_many``, then claimed and settled as finished by ``Backend.claim`` with
   settlements built by ``joblane.core.outcome.decide``, 1,000 per call, as a worker with a
   deep batch does; no job runs, the records are the ones a worker leaves).
2. size per job: the store's size after the fill over the jobs it holds (SQLite: the file,
   its WAL and shm; Redis: ``used_memory``; PostgreSQL: ``pg_total_relation_size`` of every
   table of the schema, with indexes and TOAST), less the empty store's size.
3. enqueue: ``--sample`` jobs enqueued one by one (``Queue.enqueue``) on top of the backlog,
   microseconds per job: the median of the sample's five parts (a burst of the machine's
   other load spoils one part, not the figure).
4. claim: the same number of jobs claimed on top of the backlog through ``Backend.claim``,
   one job per call, with the previous job's settlement in the same call (the worker's
   claim path without running anything: claim, then settle with the next claim), us/job,
   the median of five parts as in 3.
5. the monitoring API through the real ASGI app (``joblane.monitor``'s Starlette app in a
   ``TestClient``): the first and the last page (50 jobs) of the finished registry, the
   list of queues (``@rq-queues``) and one queue's summary (``@rq-queues/scale``: its
   counts), median of 5 requests each, ms. The API has no list of queued jobs: their
   first and last page are read through ``Backend.list_queued``, as ``Queue.get_jobs``
   does.
6. ``joblane info`` (the CLI, a new process, as a user runs it) wall time, median of 3;
   the Python start-up and imports alone (``joblane --version``) are given beside it.
7. promotion: ``--promote`` jobs (10^5) scheduled for the same past second, then
   ``promote_due`` called as the worker's scheduler calls it (batches of 1,000) until none
   is left: the time for all of them to become queued, once per backend (at the largest
   size's backlog).

The soak (``--soak-minutes``): a ``joblane worker -c 2`` process on queue ``soak`` and a
producer in this process enqueueing no-ops one by one at ``--soak-rate`` jobs/s, each with
``result_ttl=--soak-ttl`` so finished ones expire and the worker's housekeeping deletes them.
Every ``--soak-interval`` seconds: the worker's RSS with its slot processes (``VmRSS`` of
the worker and its children, from ``/proc``), the store's size (as in 2), the queued and
finished counts.  A soak runs apart from the scale steps (``--only-soak``) and measures
growth, not speed.

Results: tables on stdout, the figures, the command and the machine in
``bench/results/scale-<date>.json``; ``--plot`` draws ``bench/scale.png`` (cost per job
against the backlog, per backend) from one or more such JSON files.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import fresh_db, save_record

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
QUEUE = "scale"
DONE = "done"
FILL_BATCH = 5_000
SETTLE_BATCH = 1_000
PAGE = 50
CHUNKS = 5


# --------------------------------------------------------------------------- the stores


@dataclass
class Store:
    """A throwaway backend: its URL, its size in bytes, and how to empty it."""

    name: str
    url: str
    size: Callable[[], int]
    reset: Callable[[], None]
    versions: dict[str, str]
    parts: Callable[[], dict[str, int]] | None = None
    """The size's parts, where it has several (SQLite: the file and its WAL)."""
    server_us: Callable[[], float] | None = None
    """The server's time so far inside joblane's calls, in microseconds, where it is
    known (Redis: ``INFO commandstats`` of FCALL, the commands the functions run
    included)."""


@contextlib.contextmanager
def sqlite_store(workdir: Path) -> Iterator[Store]:
    import sqlite3

    with tempfile.TemporaryDirectory(prefix="bench-scale-sqlite-", dir=workdir) as tmp:
        db = Path(tmp) / "scale.db"

        def size() -> int:
            return sum(
                Path(f"{db}{s}").stat().st_size
                for s in ("", "-wal", "-shm")
                if Path(f"{db}{s}").exists()
            )

        from joblane.backends.sqlite import backend as _  # noqa: F401  (fail early)

        def parts() -> dict[str, int]:
            found = {s or "db": Path(f"{db}{s}") for s in ("", "-wal")}
            return {f"{k.lstrip('-')}_bytes": p.stat().st_size if p.exists() else 0
                    for k, p in found.items()}  # fmt: skip

        yield Store("sqlite", f"sqlite:///{db}", size, lambda: fresh_db(db),
                    {"sqlite": sqlite3.sqlite_version}, parts)  # fmt: skip


@contextlib.contextmanager
def redis_store(workdir: Path) -> Iterator[Store]:
    import redis

    from bench.redis import flushall, redis_server, used_memory

    with redis_server(workdir) as url:
        with redis.Redis.from_url(url) as client:
            version = str(client.info("server")["redis_version"])

        def server_us() -> float:
            with redis.Redis.from_url(url) as client:
                stats = client.info("commandstats")
            return float(stats.get("cmdstat_fcall", {}).get("usec", 0))

        yield Store("redis", url, lambda: used_memory(url), lambda: flushall(url),
                    {"redis": version, "redis_py": _version("redis")},
                    server_us=server_us)  # fmt: skip


@contextlib.contextmanager
def postgres_store(workdir: Path) -> Iterator[Store]:
    import psycopg

    from bench.postgres import joblane_reset, joblane_url, postgres_cluster

    with postgres_cluster() as cluster:
        url = joblane_url(cluster)
        dsn = cluster.dsn("joblane")

        def size() -> int:
            with psycopg.connect(dsn, autocommit=True) as conn:
                row = conn.execute(
                    "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
                    " JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = 'joblane' AND c.relkind = 'r'"
                ).fetchone()
                return int(row[0]) if row else 0

        yield Store("postgres", url, size, lambda: joblane_reset(cluster, url),
                    {"postgres": cluster.settings()["server_version"],
                     "psycopg": _version("psycopg")})  # fmt: skip


STORES = {"sqlite": sqlite_store, "redis": redis_store, "postgres": postgres_store}


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


# --------------------------------------------------------------------------- the scale steps


def _median_ms(call: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def fill_queued(backend: Any, queue_name: str, n: int) -> float:
    """*n* no-ops waiting in *queue_name*, by ``enqueue_many`` in batches; returns jobs/s."""
    from bench import tasks
    from joblane import Queue

    queue = Queue(queue_name, backend=backend)
    t0 = time.perf_counter()
    for first in range(0, n, FILL_BATCH):
        batch = range(first, min(n, first + FILL_BATCH))
        queue.enqueue_many([Queue.prepare_data(tasks.noop, (i,), result_ttl=86_400)
                            for i in batch])  # fmt: skip
    return n / max(time.perf_counter() - t0, 1e-9)


def fill_finished(backend: Any, n: int) -> float:
    """*n* jobs in the finished registry of queue ``done``: enqueued in bulk, then claimed
    1,000 per call and settled as succeeded by the next call (``decide`` builds each
    settlement, as the worker does); nothing runs. Returns jobs/s."""
    from joblane.core.outcome import Outcome, decide

    t0 = time.perf_counter()
    fill_queued(backend, DONE, n)
    success = Outcome.success(b"null")
    pending: list[Any] = []
    while True:
        now = backend.now()
        _, jobs = backend.claim([DONE], worker="bench-fill", limit=SETTLE_BATCH,
                                lease_seconds=600.0, now=now, settle=pending)  # fmt: skip
        pending = [decide(job, job.lease_token, success, now) for job in jobs]
        if not jobs:
            break
    return n / max(time.perf_counter() - t0, 1e-9)


def control_us(url: str) -> dict[str, float]:
    """The machine's state right before the samples, to tell a slower backend from a
    busier machine: a fixed pure-Python loop (wall and CPU, median of 5) and, on
    Redis, a PING's round trip (median of 200)."""
    walls, cpus = [], []
    for _ in range(5):
        t0, c0 = time.perf_counter(), time.process_time()
        sum(i * i for i in range(20_000))
        walls.append((time.perf_counter() - t0) * 1e6)
        cpus.append((time.process_time() - c0) * 1e6)
    out = {
        "control_loop_us": statistics.median(walls),
        "control_loop_cpu_us": statistics.median(cpus),
    }
    if url.startswith("redis"):
        import redis

        with redis.Redis.from_url(url) as client:
            client.ping()
            out["control_ping_us"] = _median_ms(client.ping, 200) * 1000
    return out


def enqueue_cost(backend: Any, sample: int) -> float:
    """Microseconds per job of ``Queue.enqueue`` one by one, on top of the backlog."""
    from bench import tasks
    from joblane import Queue

    queue = Queue(QUEUE, backend=backend)
    chunks = []
    for chunk in _chunks(sample):
        t0 = time.perf_counter()
        for i in chunk:
            queue.enqueue(tasks.noop, i, result_ttl=86_400)
        chunks.append((time.perf_counter() - t0) / len(chunk) * 1e6)
    return statistics.median(chunks)


def _chunks(sample: int) -> list[range]:
    """The sample in CHUNKS parts: the median of their per-job costs is what is reported,
    so that a burst of the machine's other load spoils one part, not the figure."""
    step = max(1, sample // CHUNKS)
    return [range(i, min(sample, i + step)) for i in range(0, sample, step)]


def claim_cost(backend: Any, sample: int) -> float:
    """Microseconds per job claimed one per ``Backend.claim`` call, each call settling the
    job claimed by the previous one (the worker's claim path, nothing run)."""
    from joblane.core.outcome import Outcome, decide

    success = Outcome.success(b"null")
    pending: list[Any] = []
    chunks = []
    for chunk in _chunks(sample):
        t0 = time.perf_counter()
        for _ in chunk:
            now = backend.now()
            _, jobs = backend.claim([QUEUE], worker="bench-claim", limit=1,
                                    lease_seconds=60.0, now=now, settle=pending)  # fmt: skip
            if not jobs:
                raise RuntimeError("the backlog ran dry during the claim sample")
            pending = [decide(job, job.lease_token, success, now) for job in jobs]
        chunks.append((time.perf_counter() - t0) / len(chunk) * 1e6)
    backend.settle(pending, backend.now())
    return statistics.median(chunks)


def api_pages(backend: Any, repeat: int = 5) -> dict[str, float]:
    """The monitoring API (the real Starlette app, in a TestClient): first and last page
    of ``done``'s finished registry, the list of queues and the queue's summary (their
    counts), ms; and the
    queued list's first and last page through ``Backend.list_queued`` (the API has no
    queued list), ms."""
    from starlette.testclient import TestClient

    from joblane.core.states import Registry
    from joblane.monitor.api import create_api
    from joblane.monitor.auth import Auth

    app = create_api(backend, queues=[QUEUE, DONE], auth=Auth.disabled())
    finished = backend.registry_count(DONE, Registry.FINISHED)
    queued = backend.count(QUEUE)
    last_finished = max(finished - PAGE, 0)
    last_queued = max(queued - PAGE, 0)
    out: dict[str, float] = {}
    with TestClient(app) as client:
        path = f"/@rq-queues/{DONE}/{Registry.FINISHED.value}"

        def get(url: str, expect: int) -> None:
            response = client.get(url)
            response.raise_for_status()
            got = len(response.json()["items"])
            if got != expect:
                raise RuntimeError(f"{url}: {got} jobs, expected {expect}")

        first_n, last_n = min(PAGE, finished), finished - last_finished
        out["api_finished_first_ms"] = _median_ms(
            lambda: get(f"{path}?start=0&limit={PAGE}", first_n), repeat
        )
        out["api_finished_last_ms"] = _median_ms(
            lambda: get(f"{path}?start={last_finished}&limit={PAGE}", last_n), repeat
        )
        out["api_queues_ms"] = _median_ms(
            lambda: client.get("/@rq-queues").raise_for_status(), repeat
        )
        out["api_queue_summary_ms"] = _median_ms(
            lambda: client.get(f"/@rq-queues/{QUEUE}").raise_for_status(), repeat
        )
    out["queued_first_ms"] = _median_ms(lambda: backend.list_queued(QUEUE, 0, PAGE), repeat)
    out["queued_last_ms"] = _median_ms(
        lambda: backend.list_queued(QUEUE, last_queued, PAGE), repeat
    )
    return out


def info_wall(url: str, repeat: int = 3) -> dict[str, float]:
    """``joblane info`` in a new process, wall ms (median), and ``joblane --version`` (the
    interpreter's start-up and imports alone) beside it."""
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([*paths, str(ROOT)]))

    def run(*args: str) -> None:
        subprocess.run([sys.executable, "-m", "joblane", "--url", url, *args], check=True,
                       stdout=subprocess.DEVNULL, env=env, cwd=ROOT)  # fmt: skip

    return {"info_ms": _median_ms(lambda: run("info"), repeat),
            "cli_start_ms": _median_ms(lambda: run("--version"), repeat)}  # fmt: skip


def promotion(backend: Any, n: int) -> dict[str, float]:
    """*n* jobs scheduled for the same second (an hour ahead, stored in bulk), then the
    worker's scheduler step (``sidetasks.promote_due``: ``Backend.promote_due`` in batches
    of 1,000 until a batch comes short) called with ``now`` past that second; seconds."""
    from datetime import UTC, datetime

    from bench import tasks
    from joblane import Queue
    from joblane.worker.sidetasks import promote_due

    queue = Queue("promo", backend=backend)
    when = float(int(backend.now()) + 3600)
    at = datetime.fromtimestamp(when, UTC)
    for first in range(0, n, FILL_BATCH):
        queue.store([queue.build_call(tasks.noop, (i,), at=at)
                     for i in range(first, min(n, first + FILL_BATCH))])  # fmt: skip
    t0 = time.perf_counter()
    moved = promote_due(backend, when + 1.0)
    elapsed = time.perf_counter() - t0
    if moved != n or queue.count != n:
        raise RuntimeError(f"promoted {moved}, queued {queue.count}, expected {n}")
    return {"promote_jobs": n, "promote_s": elapsed, "promote_per_s": n / elapsed}


def measure_size(store: Store, n: int, finished: int, sample: int) -> dict[str, Any]:
    """Every step at one backlog size on an emptied store."""
    from joblane import Queue
    from joblane.config import backend_from_url

    store.reset()
    backend = backend_from_url(store.url)
    try:
        Queue(QUEUE, backend=backend).count  # noqa: B018  (connect, create the schema)
        empty = store.size()
        row: dict[str, Any] = {"size": n, "finished": finished}
        row["fill_queued_per_s"] = fill_queued(backend, QUEUE, n)
        row["fill_finished_per_s"] = fill_finished(backend, finished)
        full = store.size()
        row["store_bytes"] = full
        row["bytes_per_job"] = (full - empty) / (n + finished)
        row.update(control_us(store.url))
        for step, cost in (("enqueue", enqueue_cost), ("claim", claim_cost)):
            server0 = store.server_us() if store.server_us else 0.0
            cpu0 = time.process_time()
            row[f"{step}_us"] = cost(backend, sample)
            # Means over the whole sample: this process's CPU, and the server's time
            # where it is known.
            row[f"{step}_cpu_us"] = (time.process_time() - cpu0) / sample * 1e6
            if store.server_us:
                row[f"{step}_server_us"] = (store.server_us() - server0) / sample
        row.update(api_pages(backend))
        row.update(info_wall(store.url))
        row["load1"] = os.getloadavg()[0]
        print(f"{store.name} N={n}: " + ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()),
            flush=True)  # fmt: skip
        return row
    finally:
        backend.close()


def measure_store(store: Store, sizes: list[int], finished_cap: int, sample: int,
                  promote: int) -> dict[str, Any]:  # fmt: skip
    from joblane.config import backend_from_url

    t0 = time.monotonic()
    rows = [measure_size(store, n, min(n, finished_cap), sample) for n in sizes]
    result: dict[str, Any] = {"rows": rows}
    if promote:
        backend = backend_from_url(store.url)  # the largest size's backlog is still there
        try:
            result["promotion"] = promotion(backend, promote)
            print(f"{store.name} promotion: {result['promotion']}", flush=True)
        finally:
            backend.close()
    result["run_s"] = time.monotonic() - t0
    return result


# --------------------------------------------------------------------------- the soak


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss(pid: int) -> tuple[int, int]:
    """(RSS in KiB of *pid* and all its descendants, how many processes)."""
    todo, seen, total = [pid], 0, 0
    while todo:
        p = todo.pop()
        total += _rss_kib(p)
        seen += 1
        todo.extend(_children(p))
    return total, seen


def soak(store: Store, minutes: float, rate: float, ttl: int, interval: float,
         workdir: Path) -> dict[str, Any]:  # fmt: skip
    """A worker and a steady producer for *minutes*; samples every *interval* seconds."""
    from bench import tasks
    from joblane import Queue
    from joblane.config import backend_from_url
    from joblane.core.states import Registry

    store.reset()
    log = open(workdir / f"soak-{store.name}-worker.log", "ab")  # noqa: SIM115
    worker = subprocess.Popen(
        [sys.executable, "-m", "joblane", "--url", store.url, "worker", "-q", "soak",
         "-c", "2", "-i", "bench.tasks", "--log-level", "warning"],
        cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=log, stderr=log,
        start_new_session=True,
    )  # fmt: skip
    backend = backend_from_url(store.url)
    queue = Queue("soak", backend=backend)
    queue.count  # noqa: B018  (connect, create the schema)
    stop = threading.Event()
    produced = [0]

    def produce() -> None:
        t0 = time.monotonic()
        while not stop.is_set():
            due = t0 + produced[0] / rate
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            queue.enqueue(tasks.noop, produced[0], result_ttl=ttl)
            produced[0] += 1

    samples: list[dict[str, Any]] = []
    producer = threading.Thread(target=produce, daemon=True)
    start = time.monotonic()
    producer.start()
    try:
        end = start + minutes * 60
        next_sample = start
        while True:
            now = time.monotonic()
            if worker.poll() is not None:
                raise RuntimeError(f"the worker exited ({worker.returncode}), see its log")
            if now >= next_sample:
                rss, procs = tree_rss(worker.pid)
                sample = {
                    "t_s": round(now - start, 1),
                    "produced": produced[0],
                    "queued": backend.count("soak"),
                    "finished": backend.registry_count("soak", Registry.FINISHED),
                    "worker_rss_kib": rss,
                    "worker_processes": procs,
                    "store_bytes": store.size(),
                    **(store.parts() if store.parts else {}),
                    "load1": os.getloadavg()[0],
                }
                samples.append(sample)
                print(f"soak {store.name}: {sample}", flush=True)
                next_sample += interval
                if now >= end:
                    break
            time.sleep(min(1.0, max(0.0, next_sample - time.monotonic())))
    finally:
        stop.set()
        producer.join(10)
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        log.close()
        backend.close()
    elapsed = time.monotonic() - start
    return {
        "backend": store.name,
        "minutes": minutes,
        "rate_per_s": rate,
        "achieved_rate_per_s": produced[0] / elapsed,
        "result_ttl_s": ttl,
        "interval_s": interval,
        "samples": samples,
        "summary": soak_summary(samples, ttl),
    }


def soak_summary(samples: list[dict[str, Any]], ttl: int) -> dict[str, Any]:
    """The first sample, then start (the first at twice the result TTL: steady), middle, end."""
    if not samples:
        return {}
    steady = [s for s in samples if s["t_s"] >= 2 * ttl] or samples[-1:]
    picks = {"first": samples[0], "start": steady[0],
             "middle": steady[len(steady) // 2], "end": steady[-1]}  # fmt: skip
    return {k: {f: s[f] for f in ("t_s", "worker_rss_kib", "store_bytes", "queued", "finished")}
            for k, s in picks.items()}  # fmt: skip


# --------------------------------------------------------------------------- entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="How joblane's costs grow with the backlog")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000, 1_000_000])
    parser.add_argument("--backends", nargs="+", default=list(STORES), choices=list(STORES))
    parser.add_argument("--sample", type=int, default=2_000)
    parser.add_argument(
        "--finished",
        type=int,
        default=1_000_000,
        help="finished jobs kept at most (each size fills min(N, this))",
    )
    parser.add_argument("--promote", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="a tiny run: sizes 100 1000")
    parser.add_argument("--soak-minutes", type=float, default=0.0)
    parser.add_argument("--soak-rate", type=float, default=200.0)
    parser.add_argument("--soak-ttl", type=int, default=60)
    parser.add_argument("--soak-interval", type=float, default=30.0)
    parser.add_argument("--only-soak", action="store_true")
    parser.add_argument(
        "--plot",
        nargs="*",
        type=Path,
        metavar="JSON",
        help="draw bench/scale.png from these saved runs, running nothing (no file: this run)",
    )
    parser.add_argument("--workdir", type=Path, default=BENCH / "results" / "scale-work")
    parser.add_argument(
        "--render",
        nargs="+",
        type=Path,
        metavar="JSON",
        help="print the tables of these result files, run nothing",
    )
    args = parser.parse_args(argv)
    if args.render or args.plot:  # from saved runs: nothing is run
        if args.render:
            render_files(args.render)
        if args.plot:
            plot(args.plot, BENCH / "scale.png")
        return 0
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {
        "command": " ".join(["python -m bench.scale", *(argv or sys.argv[1:])]),
        "load_before": os.getloadavg(),
        "joblane": _version("joblane"),
        "scale": {},
        "soak": {},
        "machine": {},
    }
    sizes, sample, promote = args.sizes, args.sample, args.promote
    if args.quick:
        sizes, sample, promote = [100, 1_000], 50, 1_000
    record["sizes"], record["sample"], record["promote"] = sizes, sample, promote
    _raise_on_sigterm()
    try:
        for name in args.backends:
            with STORES[name](workdir) as store:
                record["machine"].update(store.versions)
                if not args.only_soak:
                    record["scale"][name] = measure_store(store, sizes, args.finished,
                                                          sample, promote)  # fmt: skip
                    print(render_scale(name, record["scale"][name]), flush=True)
                if args.soak_minutes > 0:
                    minutes = 0.5 if args.quick else args.soak_minutes
                    interval = 5.0 if args.quick else args.soak_interval
                    record["soak"][name] = soak(store, minutes, args.soak_rate, args.soak_ttl,
                                                interval, workdir)  # fmt: skip
                    print(render_soak(record["soak"][name]), flush=True)
    finally:
        record["load_after"] = os.getloadavg()
        kind = "-".join(["scale", *args.backends, *(["soak"] if args.soak_minutes > 0 else [])])
        path = save_record(kind, record)
        print(f"saved {path}")
    if args.plot is not None:
        plot(args.plot or [path], BENCH / "scale.png")
    return 0


def render_scale(name: str, result: dict[str, Any]) -> str:
    lines = [f"{name} (run {result['run_s']:.0f} s)",
             "| waiting | enqueue us/job | claim us/job | API finished first / last page ms | "
             "API queues / queue ms | queued first / last ms | info ms (start-up) | bytes/job |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for r in result["rows"]:
        lines.append(
            f"| {r['size']:,} | {r['enqueue_us']:.0f} | {r['claim_us']:.0f} | "
            f"{r['api_finished_first_ms']:.1f} / {r['api_finished_last_ms']:.1f} | "
            f"{r.get('api_queues_ms', float('nan')):.1f} / {r['api_queue_summary_ms']:.1f} | "
            f"{r['queued_first_ms']:.1f} / {r['queued_last_ms']:.1f} | "
            f"{r['info_ms']:.0f} ({r['cli_start_ms']:.0f}) | {r['bytes_per_job']:.0f} |"
        )
    if "promotion" in result:
        p = result["promotion"]
        lines.append(f"promotion of {p['promote_jobs']:,} due jobs: {p['promote_s']:.2f} s")
    return "\n".join(lines)


def plot(paths: list[Path], out: Path) -> None:
    """Cost per job (enqueue, claim) against the backlog, per backend, from result files:
    one line per run, a backend's runs in one colour (solid, then dashed, dotted)."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs: dict[str, list[list[dict[str, Any]]]] = {}
    for path in paths:
        for name, result in json.loads(Path(path).read_text()).get("scale", {}).items():
            runs.setdefault(name, []).append(result["rows"])
    colours = {"sqlite": "tab:green", "redis": "tab:red", "postgres": "tab:blue"}
    styles = ("-", "--", ":", "-.")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharex=True)
    for ax, key, title in ((axes[0], "enqueue_us", "enqueue, one by one"),
                           (axes[1], "claim_us", "claim (+ settle), one per call")):  # fmt: skip
        for name in sorted(runs):
            for i, rows in enumerate(runs[name]):
                ax.plot([r["size"] for r in rows], [r[key] for r in rows], marker="o",
                        color=colours.get(name), linestyle=styles[i % len(styles)],
                        label=f"{name} (run {i + 1})" if len(runs[name]) > 1 else name)  # fmt: skip
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("jobs waiting (and as many finished)")
        ax.set_ylabel("us per job")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize="small")
    fig.suptitle("joblane: cost per job against the backlog (2 shared CPUs, medians of 5 parts)")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(out, dpi=100)
    print(f"plot: {out}")


def render_files(paths: list[Path]) -> int:
    import json

    for path in paths:
        record = json.loads(path.read_text())
        print(f"{path.name}: {record['command']} ({record['date']}, joblane {record['joblane']})")
        for name, result in record.get("scale", {}).items():
            print(render_scale(name, result))
        for result in record.get("soak", {}).values():
            print(render_soak(result))
    return 0


def render_soak(result: dict[str, Any]) -> str:
    lines = [f"soak on {result['backend']}: {result['minutes']} min at "
             f"{result['achieved_rate_per_s']:.0f} jobs/s, result_ttl {result['result_ttl_s']} s",
             "| when | t (s) | worker RSS (MiB) | store (MB) | queued | finished |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for k, s in result["summary"].items():
        rss, size = s["worker_rss_kib"] / 1024, s["store_bytes"] / 1e6
        lines.append(f"| {k} | {s['t_s']:.0f} | {rss:.1f} | {size:.2f} | {s['queued']} | "
                     f"{s['finished']} |")  # fmt: skip
    return "\n".join(lines)


def _raise_on_sigterm() -> None:
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


if __name__ == "__main__":
    sys.exit(main())
