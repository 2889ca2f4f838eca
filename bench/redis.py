"""joblane on Redis against RQ, arq, saq, Dramatiq, Huey and Celery, same workload, one run.

    python -m bench.redis --jobs 10000 --latency-samples 200

Starts ONE throwaway ``redis-server`` (the one on PATH, a free port on 127.0.0.1, a temporary
directory, ``--save "" --appendonly no``: no persistence for anyone), never the machine's
own Redis.  Each peer runs from its own virtualenv (``bench/peers/setup_env.sh``, made on
first use; no peer is a dependency of joblane) as ``bench/peers/redis_<peer>.py`` with the
server's URL, and prints one JSON object; the method is in ``bench/peers/redis_common.py``.
joblane's side is ``bench.sqlite.measure_joblane`` on the Redis URL, the same steps: N
no-ops in one ``enqueue_many``; N enqueued one by one (the last a marker) while Redis's
``used_memory`` is read before and after; a worker process gated after start-up drains
them, timed to the marker's start; then latency samples against the idle worker.  The
database is emptied (FLUSHALL) before each system.  The server is stopped at the end, also
on errors and on SIGTERM.

Results: a table on stdout, and the figures, the command and the machine in
``bench/results/redis-<date>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

from bench.common import save_record
from bench.sqlite import measure_joblane

BENCH = Path(__file__).resolve().parent
PEERS = ("huey", "huey-hiredis", "rq", "arq", "saq", "dramatiq", "celery")
# A peer run again from a venv of its own with something added: its script.
PEER_SCRIPT = {"huey-hiredis": "huey"}
"""huey-hiredis: Huey with hiredis installed beside redis-py, as joblane's redis extra has
it, so that the enqueue rows compare like with like (redis-py uses hiredis to pack
commands and parse replies when it is installed)."""
# joblane's worker settings: its default here (max(2, CPUs) slot processes) and one slot.
JOBLANE_SETTINGS = ("concurrency=2", "concurrency=1")
JOBLANE_DEFAULT = "concurrency=2"
# Extra arguments per peer.  arq's idle worker polls every 0.5 s, so each latency sample
# costs half a second: 50 samples per setting keep the run under ten minutes.
PEER_ARGS: dict[str, list[str]] = {}
PEER_MAX_LATENCY_SAMPLES = {"arq": 50}
PEER_TIMEOUT_S = 900.0


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """A throwaway redis-server on a free port; yields its URL, stops it on the way out."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not on PATH (apt-get install redis-server)")
    with tempfile.TemporaryDirectory(prefix="bench-redis-", dir=workdir) as tmp:
        for _ in range(5):
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            log = Path(tmp) / "redis.log"
            proc = subprocess.Popen(
                [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", tmp, "--logfile", str(log)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            if _wait_for_ping(port, proc):
                break
            _stop(proc)
        else:
            raise RuntimeError("redis-server did not start (no free port?)")
        try:
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            _stop(proc)


def _wait_for_ping(port: int, proc: subprocess.Popen[bytes]) -> bool:
    import redis

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(redis.ConnectionError):
            if redis.Redis(port=port, socket_connect_timeout=1).ping():
                return True
        time.sleep(0.05)
    return False


def _stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def flushall(url: str) -> None:
    import redis

    with redis.Redis.from_url(url) as client:
        client.flushall()


def used_memory(url: str) -> int:
    import redis

    with redis.Redis.from_url(url) as client:
        return int(client.info("memory")["used_memory"])


def measure_joblane_redis(url: str, jobs: int, samples: int, workdir: Path) -> dict[str, Any]:
    from importlib.metadata import version

    rounds = []
    for setting in JOBLANE_SETTINGS:
        concurrency = int(setting.removeprefix("concurrency="))
        figures = measure_joblane(jobs, samples, url, workdir, concurrency, 0,
                                  lambda: flushall(url), lambda: used_memory(url))  # fmt: skip
        rounds.append({"setting": setting, "default": setting == JOBLANE_DEFAULT, **figures})
    flushall(url)
    best = max(rounds, key=lambda r: r["drain_per_s"])
    default = next(r for r in rounds if r["default"])
    return {
        "name": "joblane",
        "version": version("joblane"),
        "jobs": jobs,
        "latency_samples": samples,
        "enqueue_one_per_s": statistics.median(r["enqueue_one_per_s"] for r in rounds),
        "enqueue_many_per_s": statistics.median(r["enqueue_many_per_s"] for r in rounds),
        "default_setting": JOBLANE_DEFAULT,
        "drain_default_per_s": default["drain_per_s"],
        "best_setting": best["setting"],
        "drain_best_per_s": best["drain_per_s"],
        "latency_p50_ms": default["latency_p50_ms"],
        "latency_p99_ms": default["latency_p99_ms"],
        "memory_per_job_bytes": rounds[0]["memory_per_job_bytes"],
        "settings": rounds,
        "notes": {
            "settings": {
                "concurrency=2": "2 slot processes (joblane's default here: max(2, CPUs))",
                "concurrency=1": "1 slot process",
            },
            "enqueue": "enqueue_one and enqueue_many: median of the settings' rounds",
            "redis_py": version("redis"),
            "memory": "INFO used_memory after minus before enqueueing N jobs one by one, / N "
            "(first round)",
        },
    }


def ping_rate(url: str, n: int = 10_000) -> float:
    """Unpipelined round trips a second from one redis-py client: the ceiling for anything
    that pays one round trip per job."""
    import redis

    with redis.Redis.from_url(url) as client:
        ping = client.ping
        ping()
        t0 = time.perf_counter()
        for _ in range(n):
            ping()
        return n / (time.perf_counter() - t0)


def benchmark_rates(url: str) -> dict[str, float]:
    """``redis-benchmark`` PING rates (unpipelined) with 1 and 50 clients, if it is installed."""
    binary = shutil.which("redis-benchmark")
    port = url.rsplit(":", 1)[1].split("/")[0]
    rates: dict[str, float] = {}
    for clients, n in ((1, 20_000), (50, 100_000)):
        if binary is None:
            break
        done = subprocess.run(
            [binary, "-h", "127.0.0.1", "-p", port, "-c", str(clients), "-n", str(n),
             "-t", "ping_mbulk", "--csv"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        for line in done.stdout.splitlines():
            fields = [f.strip('"') for f in line.split(",")]
            if fields[0] == "PING_MBULK":
                rates[f"redis_benchmark_ping_c{clients}_per_s"] = round(float(fields[1]))
    return rates


def setup_venv(peer: str) -> None:
    """Make the peer's virtualenv if needed (idempotent); fails with pip's output."""
    done = subprocess.run(["bash", str(BENCH / "peers" / "setup_env.sh"), peer],
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise RuntimeError(f"setup_env.sh {peer} failed: {tail[0]}")


def measure_peer(peer: str, url: str, jobs: int, samples: int, workdir: Path) -> dict[str, Any]:
    python = BENCH / ".venvs" / peer / "bin" / "python"
    samples = min(samples, PEER_MAX_LATENCY_SAMPLES.get(peer, samples))
    script = PEER_SCRIPT.get(peer, peer)
    cmd = [str(python), str(BENCH / "peers" / f"redis_{script}.py"), "--redis-url", url,
           "--jobs", str(jobs), "--latency-samples", str(samples),
           "--workdir", str(workdir / peer), *PEER_ARGS.get(peer, [])]  # fmt: skip
    log = workdir / f"{peer}.stderr.log"
    with log.open("w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
        try:
            out, _ = proc.communicate(timeout=PEER_TIMEOUT_S)
        except BaseException:
            proc.terminate()  # the script stops its worker on SIGTERM
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise
    if proc.returncode != 0:
        tail = log.read_text().strip().splitlines()[-1:] or ["(no stderr)"]
        raise RuntimeError(f"exit code {proc.returncode}: {tail[0]} (see {log})")
    result: dict[str, Any] = json.loads(out)
    if peer in PEER_SCRIPT:
        result["name"] = peer
    return result


# --------------------------------------------------------------------------- report


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    text = f"{value:,.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"
    return text + unit


def table(results: list[dict[str, Any]]) -> str:
    """One row per system and worker setting; the ratio is joblane's default drain over it."""
    joblane = next((r for r in results if r["name"] == "joblane" and "error" not in r), None)
    reference = joblane["drain_default_per_s"] if joblane else None
    lines = [
        "| system | worker setting | enqueue one (jobs/s) | enqueue many (jobs/s) "
        "| drain (jobs/s) | p50 (ms) | p99 (ms) | joblane drain / this |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for result in results:
        name = f"{result['name']} {result.get('version', '')}".strip()
        if "error" in result:
            lines.append(f"| {name} | not run: {result['error']} | - | - | - | - | - | - |")
            continue
        for r in result["settings"]:
            setting = r["setting"] + (" (default)" if r["default"] else "")
            if r.get("jobs", result["jobs"]) != result["jobs"]:
                setting += f" ({r['jobs']:,} jobs)"
            ratio = f"{reference / r['drain_per_s']:.2f}x" if reference else "-"
            many = result.get("enqueue_many_per_s")
            lines.append(
                f"| {name} | {setting} | {_fmt(r['enqueue_one_per_s'])} | "
                f"{_fmt(many) if many else 'no bulk API'} | {_fmt(r['drain_per_s'])} | "
                f"{_fmt(r['latency_p50_ms'])} | {_fmt(r['latency_p99_ms'])} | {ratio} |"
            )
    return "\n".join(lines)


def memory_table(results: list[dict[str, Any]]) -> str:
    """Redis memory per queued job (used_memory delta over N one-by-one enqueues / N)."""
    lines = ["| system | Redis memory per queued no-op job (bytes) |", "| --- | ---: |"]
    for result in results:
        if "error" not in result:
            lines.append(f"| {result['name']} | {result['memory_per_job_bytes']:,.0f} |")
    return "\n".join(lines)


def _raise_on_sigterm(signum: int, frame: object) -> NoReturn:
    raise SystemExit(128 + signum)  # so that finally blocks stop the workers and the server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="joblane vs its peers on Redis")
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument("--only", nargs="+", choices=("joblane", *PEERS),
                        help="run only these systems (default: all)")  # fmt: skip
    parser.add_argument("--workdir", type=Path, default=BENCH / "results" / "redis-work")
    args = parser.parse_args(argv)
    systems = args.only or ["joblane", *PEERS]
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _raise_on_sigterm)

    results: list[dict[str, Any]] = []
    started = time.monotonic()
    with redis_server(workdir) as url:
        import redis

        with redis.Redis.from_url(url) as client:
            server = {**client.info("server"), **client.info("memory")}
        baseline = {"redis_py_ping_per_s": round(ping_rate(url)), **benchmark_rates(url)}
        for system in systems:
            flushall(url)
            t0 = time.monotonic()
            try:
                if system == "joblane":
                    result = measure_joblane_redis(url, args.jobs, args.latency_samples, workdir)
                else:
                    setup_venv(system)
                    result = measure_peer(system, url, args.jobs, args.latency_samples, workdir)
            except Exception as exc:  # report it and go on with the other systems
                result = {"name": system, "error": f"{type(exc).__name__}: {exc}"}
            result["elapsed_s"] = round(time.monotonic() - t0, 1)
            print(f"{system}: {result['elapsed_s']} s", file=sys.stderr, flush=True)
            results.append(result)
    text = table(results) + "\n\n" + memory_table(results)
    print(text)
    print("\nunpipelined PINGs a second: " + ", ".join(f"{k}={v:,}" for k, v in baseline.items()))
    save_record("redis", {
        "command": " ".join(["python -m bench.redis", *(argv or sys.argv[1:])]),
        "elapsed_s": round(time.monotonic() - started, 1),
        "machine": {"redis_server": server.get("redis_version"),
                    "redis_allocator": server.get("mem_allocator"),
                    "unpipelined_round_trips": baseline},
        "results": results,
        "table": text,
    })  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
