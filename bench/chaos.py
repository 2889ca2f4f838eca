"""Chaos: kill -9 storms and Redis faults during a drain, every job accounted for.

    python -m bench.chaos                    # about 2 minutes on 2 cores

Each scenario enqueues N jobs (``bench.tasks.chaos_step``: it logs its start
and the end of its body to a run log with O_APPEND writes, and sleeps
``--job-ms`` in between), starts 2 ``joblane worker`` processes (2 slot
processes each, joblane's defaults otherwise: lease 5 s, no retries unless
``--retries``), injects its faults while they drain the queue, and waits until
every job has ended (or ``--timeout``). Then it reads every job's record from
the backend and the run log, and counts (definitions in ``bench/chaos_tally.py``):
lost, re-run, failed (with reasons), duplicates and recovery times.

Scenarios (``--only`` picks some; ``sqlite`` or ``redis`` picks a backend's):

* ``*-workers``: every 0.3-1 s, SIGKILL a random worker's process group and its
  slot processes, and start a replacement at once; ``--kills`` kills in all.
* ``*-slots``: every 0.3-1 s, SIGKILL one random slot process of a random
  worker (the worker lives on and replaces it); ``--kills`` kills.
* ``redis-restart``: SIGKILL redis-server, stay down ``--down`` s, start it again
  on the same port from its append-only file; ``--faults`` times, 1.5-3 s apart.
* ``redis-freeze``: SIGSTOP redis-server for ``--freeze`` s, then SIGCONT;
  ``--faults`` times, 1.5-3 s apart.

Faults start once the first jobs have ended (the workers are up) and stop
when the queue is drained, so a fast drain may take fewer than asked: the
table gives the number injected. Everything runs on 127.0.0.1: a SQLite file
in the work directory and a throwaway redis-server (the one on PATH, a free
port, a temporary directory, ``appendonly yes``), stopped at the end, also on
errors and SIGTERM. Output: a markdown table on stdout; the figures, the
settings, the command and the machine in ``bench/results/chaos-<date>.json``;
each worker's log and each run log in the work directory.
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from bench.chaos_procs import Kill, ThrowawayRedis, WorkerPool
from bench.chaos_tally import Fault, read_runlog, tally
from bench.common import fresh_db, save_record
from joblane import Backend

BENCH = Path(__file__).resolve().parent
QUEUE = "chaos"
SCENARIOS = {
    "sqlite-workers": ("sqlite", "worker kill -9"),
    "sqlite-slots": ("sqlite", "slot kill -9"),
    "redis-workers": ("redis", "worker kill -9"),
    "redis-slots": ("redis", "slot kill -9"),
    "redis-restart": ("redis", "Redis kill -9 + restart"),
    "redis-freeze": ("redis", "Redis frozen (SIGSTOP)"),
}
KILL_GAP = (0.3, 1.0)
FAULT_GAP = (1.5, 3.0)
POLL = 0.1


@dataclass(frozen=True)
class Settings:
    jobs: int = 10_000
    kills: int = 20
    faults: int = 3
    job_ms: float = 2.0
    retries: int = 0
    workers: int = 2
    concurrency: int = 2
    down: float = 1.0
    freeze: float = 5.0
    appendfsync: str = "everysec"
    timeout: float = 90.0
    seed: int = 1


@dataclass
class Run:
    """One scenario's moving parts and what it injected."""

    settings: Settings
    backend: Backend
    pool: WorkerPool
    redis: ThrowawayRedis | None
    rng: random.Random
    kills: list[Kill] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    exits: list[str] = field(default_factory=list)

    def ended(self) -> int:
        from joblane import Registry

        return sum(self.backend.registry_count(QUEUE, r)
                   for r in (Registry.FINISHED, Registry.FAILED, Registry.CANCELED))  # fmt: skip


def held_by(backend: Backend, worker: str) -> list[str]:
    """Ids of the jobs the backend has started under *worker*."""
    from joblane import Registry

    ids: list[str] = []
    start = 0
    while True:
        page = backend.list_registry(QUEUE, Registry.STARTED, start, 500)
        ids += [job.id for job in page if job.worker_name == worker]
        if len(page) < 500:
            return ids
        start += len(page)


def kill_worker(run: Run) -> bool:
    kill = run.pool.kill_worker()
    if kill is None:
        return False
    kill.held = held_by(run.backend, kill.worker)
    run.kills.append(kill)
    return True


def kill_slot(run: Run) -> bool:
    kill = run.pool.kill_slot()
    if kill is None:
        return False
    run.kills.append(kill)
    return True


def restart_redis(run: Run) -> bool:
    assert run.redis is not None
    began = time.monotonic()
    run.redis.crash()
    time.sleep(run.settings.down)
    run.redis.start()
    run.faults.append(Fault("restart", began, time.monotonic()))
    return True


def freeze_redis(run: Run) -> bool:
    assert run.redis is not None
    began = time.monotonic()
    run.redis.freeze()
    try:
        time.sleep(run.settings.freeze)
    finally:
        run.redis.thaw()
    run.faults.append(Fault("freeze", began, time.monotonic()))
    return True


INJECT: dict[str, tuple[Callable[[Run], bool], tuple[float, float]]] = {
    "workers": (kill_worker, KILL_GAP),
    "slots": (kill_slot, KILL_GAP),
    "restart": (restart_redis, FAULT_GAP),
    "freeze": (freeze_redis, FAULT_GAP),
}


def drive(run: Run, kind: str) -> bool:
    """Inject faults while the workers drain; True once every job has ended,
    False at the timeout."""
    inject, gap = INJECT[kind]
    budget = run.settings.kills if kind in ("workers", "slots") else run.settings.faults
    deadline = time.monotonic() + run.settings.timeout
    next_at: float | None = None
    injected = 0
    while True:
        ended = run.ended()
        if ended >= run.settings.jobs:
            return True
        now = time.monotonic()
        if now >= deadline:
            return False
        if next_at is None and ended > 0:  # the workers are up and draining
            next_at = now
        # (No worker serving yet, after a kill: try again at the next poll.)
        if next_at is not None and injected < budget and now >= next_at and inject(run):
            injected += 1
            next_at = time.monotonic() + run.rng.uniform(*gap)
        run.exits += run.pool.replace_exited()
        time.sleep(POLL)


def enqueue(backend: Backend, settings: Settings) -> list[str]:
    from bench import tasks
    from joblane import Queue, Retry

    queue = Queue(QUEUE, backend=backend)
    options: dict[str, Any] = {"result_ttl": 3600}
    if settings.retries:
        options["retry"] = Retry(max=settings.retries)
    ids: list[str] = []
    for start in range(0, settings.jobs, 1000):
        items = [Queue.prepare_data(tasks.chaos_step, (i, settings.job_ms), **options)
                 for i in range(start, min(start + 1000, settings.jobs))]  # fmt: skip
        ids += [job.id for job in queue.enqueue_many(items)]
    return ids


def run_scenario(name: str, url: str, redis: ThrowawayRedis | None, settings: Settings,
                 workdir: Path) -> dict[str, Any]:  # fmt: skip
    from joblane import backend_from_url

    kind = name.split("-", 1)[1]
    runlog = workdir / f"{name}.runlog"
    runlog.unlink(missing_ok=True)
    backend = backend_from_url(url)
    rng = random.Random(settings.seed)
    logs = workdir / name
    logs.mkdir(exist_ok=True)
    pool = WorkerPool(url, QUEUE, logs, runlog, size=settings.workers,
                      concurrency=settings.concurrency, rng=rng)  # fmt: skip
    run = Run(settings, backend, pool, redis, rng)
    try:
        ids = enqueue(backend, settings)
        t0 = time.monotonic()
        try:
            pool.start()
            drained = drive(run, kind)
            elapsed = time.monotonic() - t0
        finally:
            pool.stop()
        figures = tally(backend, ids, read_runlog(runlog), run.kills, run.faults)
    finally:
        backend.close()
    return {**figures, "drained": drained, "elapsed_s": round(elapsed, 1),
            "worker_exits": run.exits, "events": events(run, t0)}  # fmt: skip


def events(run: Run, t0: float) -> list[dict[str, Any]]:
    """What was injected when (seconds from the workers' start), for the record."""
    done: list[dict[str, Any]] = [
        {"at_s": round(k.at - t0, 3), "kind": k.kind, "worker": k.worker,
         "pids": sorted(k.pids), "held": len(k.held)}
        for k in run.kills
    ]  # fmt: skip
    done += [{"at_s": round(f.began - t0, 3), "kind": f.kind, "for_s": round(f.ended - f.began, 3)}
             for f in run.faults]  # fmt: skip
    return done


# --------------------------------------------------------------------------- report


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if value >= 0.1 else f"{value:.3f}"


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| backend | fault | kills / faults | jobs | lost | re-run | failed | duplicates "
        "| recovery p50 / max (s) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        head = f"| {row['backend']} | {row['fault']} |"
        if "error" in row:
            lines.append(f"{head} not run: {row['error']} | | | | | | |")
            continue
        failed = str(row["failed"])
        if row["failed_never_ran"]:
            failed += f" ({row['failed_never_ran']} never ran)"
        lines.append(
            f"{head} {row['kills']} | {row['jobs']:,} | {row['lost']} | {row['rerun']} | "
            f"{failed} | {row['duplicates']} | "
            f"{_seconds(row['recovery_p50_s'])} / {_seconds(row['recovery_max_s'])} |"
        )
    return "\n".join(lines)


def notes(rows: list[dict[str, Any]]) -> str:
    """What the table leaves out: reasons, interrupted jobs, anything unusual."""
    out = []
    for row in rows:
        if "error" in row:
            continue
        said = [f"{n} failed: {reason}" for reason, n in row["failed_reasons"].items()]
        if row["failed_completed"]:
            said.append(f"{row['failed_completed']} of the failed had run to their end")
        if row["scenario"].endswith(("-workers", "-slots")):
            said.append(
                f"{row['interrupted']} jobs interrupted by a kill, "
                f"{row['interrupted_not_restarted']} of them never started again"
            )
        else:
            said.append("recovery: from Redis back to the next job start")
        said.append(f"{row['phantom_attempts']} attempts charged without the job starting")
        if not row["drained"]:
            said.append(f"TIMEOUT: {row['unended']} jobs not ended")
        if row["lost"]:
            said.append(f"lost: {row['missing']} missing, "
                        f"{row['finished_without_running']} finished without running")  # fmt: skip
        if row["worker_exits"]:
            said.append("workers exited on their own: " + ", ".join(row["worker_exits"]))
        if row["runlog_malformed_lines"] or row["runlog_unknown_jobs"]:
            said.append(f"run log: {row['runlog_malformed_lines']} malformed lines, "
                        f"{row['runlog_unknown_jobs']} unknown jobs")  # fmt: skip
        said.append(f"{row['elapsed_s']} s")
        out.append(f"- {row['backend']}, {row['fault']}: " + "; ".join(said) + ".")
    return "\n".join(out)


# --------------------------------------------------------------------------- main


def _raise_on_sigterm(signum: int, frame: object) -> NoReturn:
    raise SystemExit(128 + signum)  # so that finally blocks stop workers and Redis


def selected(only: list[str] | None) -> list[str]:
    if not only:
        return list(SCENARIOS)
    return [name for name in SCENARIOS if name in only or SCENARIOS[name][0] in only]


def run_all(names: list[str], settings: Settings, workdir: Path) -> list[dict[str, Any]]:
    rows = []
    redis: ThrowawayRedis | None = None
    try:
        for name in names:
            backend, fault = SCENARIOS[name]
            t0 = time.monotonic()
            try:
                if backend == "sqlite":
                    db = workdir / "chaos.db"
                    fresh_db(db)
                    url = f"sqlite:///{db}"
                else:
                    if redis is None:
                        redis = ThrowawayRedis(workdir / "redis", settings.appendfsync)
                        redis.start()
                    redis.flushall()
                    url = redis.url
                row = run_scenario(name, url, redis, settings, workdir)
            except Exception as exc:  # report it and go on with the other scenarios
                row = {"error": f"{type(exc).__name__}: {exc}"}
            if name == "redis-freeze":
                fault = f"Redis frozen {settings.freeze:g} s (SIGSTOP)"
            rows.append({"scenario": name, "backend": backend, "fault": fault, **row})
            print(f"{name}: {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
    finally:
        if redis is not None:
            redis.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="kill -9 storms and Redis faults during a drain")
    defaults = Settings()
    parser.add_argument("--jobs", type=int, default=defaults.jobs)
    parser.add_argument("--kills", type=int, default=defaults.kills,
                        help="kills per kill-storm scenario")  # fmt: skip
    parser.add_argument("--faults", type=int, default=defaults.faults,
                        help="Redis restarts or freezes per Redis fault scenario")  # fmt: skip
    parser.add_argument("--job-ms", type=float, default=defaults.job_ms,
                        help="how long each job sleeps")  # fmt: skip
    parser.add_argument("--retries", type=int, default=defaults.retries,
                        help="Retry(max=N) on every job (joblane's default: 0)")  # fmt: skip
    parser.add_argument("--down", type=float, default=defaults.down,
                        help="seconds Redis stays down before its restart")  # fmt: skip
    parser.add_argument("--freeze", type=float, default=defaults.freeze,
                        help="seconds Redis stays frozen")  # fmt: skip
    parser.add_argument("--appendfsync", choices=("always", "everysec"),
                        default=defaults.appendfsync)  # fmt: skip
    parser.add_argument("--timeout", type=float, default=defaults.timeout,
                        help="seconds a scenario may take to drain")  # fmt: skip
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--only", nargs="+", choices=(*SCENARIOS, "sqlite", "redis"),
                        help="run only these scenarios (or a backend's)")  # fmt: skip
    parser.add_argument("--workdir", type=Path, default=BENCH / "results" / "chaos-work")
    args = parser.parse_args(argv)
    if args.jobs <= 0 or args.timeout <= 0:
        parser.error("--jobs and --timeout must be > 0")
    if min(args.kills, args.faults, args.retries, args.job_ms, args.down, args.freeze) < 0:
        parser.error("--kills, --faults, --retries, --job-ms, --down and --freeze must be >= 0")
    settings = Settings(args.jobs, args.kills, args.faults, args.job_ms, args.retries,
                        defaults.workers, defaults.concurrency, args.down, args.freeze,
                        args.appendfsync, args.timeout, args.seed)  # fmt: skip
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    command = " ".join(["python -m bench.chaos", *(sys.argv[1:] if argv is None else argv)])
    started = time.monotonic()
    rows = run_all(selected(args.only), settings, workdir)
    text = table(rows) + "\n\n" + notes(rows)
    print(text)
    print(f"\n`{command}`")
    save_record(
        "chaos",
        {
            "command": command,
            "elapsed_s": round(time.monotonic() - started, 1),
            "settings": asdict(settings),
            "rows": rows,
            "table": text,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
