"""The processes bench.chaos starts, kills and freezes: joblane workers and a
throwaway redis-server.

Every process started here asks Linux to SIGKILL it if the benchmark itself
dies (``PR_SET_PDEATHSIG``), so a benchmark killed with -9 leaves nothing
behind; a worker's slot processes already die with their worker the same way.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO

from bench.tasks import RUNLOG_ENV
from joblane.worker.slots import die_with_parent, kill_group

ROOT = Path(__file__).resolve().parent.parent


def children(pid: int) -> list[int]:
    """The live child processes of *pid* (a worker's slots), from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and fields[0] != "Z" and int(fields[1]) == pid:
            found.append(int(entry))
    return found


@dataclass
class Kill:
    """One SIGKILL the benchmark sent: when (monotonic), to which worker, and
    every pid that died with it."""

    at: float
    kind: str
    """``worker`` (the worker and its slots) or ``slot`` (one slot process)."""
    worker: str
    pids: set[int]
    held: list[str] = field(default_factory=list)
    """Worker kills: ids of the jobs the backend had started under that worker
    just after the kill (running, or claimed and waiting in the worker)."""


@dataclass
class _Worker:
    name: str
    proc: subprocess.Popen[bytes]
    log: IO[bytes]


class WorkerPool:
    """*size* ``joblane worker`` processes on *url*, each in a process group of
    its own, logging to ``worker-<n>.log`` in *workdir*."""

    def __init__(self, url: str, queue: str, workdir: Path, runlog: Path, *,
                 size: int, concurrency: int, rng: random.Random) -> None:  # fmt: skip
        self.url = url
        self.queue = queue
        self.workdir = workdir
        self.env = dict(os.environ, JOBLANE_URL=url, PYTHONPATH=str(ROOT),
                        **{RUNLOG_ENV: str(runlog)})  # fmt: skip
        self.size = size
        self.concurrency = concurrency
        self.rng = rng
        self.started = 0
        self.workers: list[_Worker] = []

    def start(self) -> None:
        while len(self.workers) < self.size:
            self._start_one()

    def _start_one(self) -> None:
        name = f"chaos-w{self.started}"
        self.started += 1
        log = (self.workdir / f"{name}.log").open("wb")
        cmd = [sys.executable, "-m", "joblane", "worker", "--import", "bench.tasks",
               "--queues", self.queue, "--concurrency", str(self.concurrency),
               "--name", name, "--log-level", "WARNING"]  # fmt: skip
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=partial(die_with_parent, os.getpid()),
        )  # fmt: skip
        self.workers.append(_Worker(name, proc, log))

    def _pick(self) -> tuple[_Worker, list[int]] | None:
        """A random worker that serves (its slots are forked), and its slots."""
        alive = [w for w in self.workers if w.proc.poll() is None]
        self.rng.shuffle(alive)
        for worker in alive:
            slots = children(worker.proc.pid)
            if slots:
                return worker, slots
        return None

    def kill_worker(self) -> Kill | None:
        """SIGKILL a random serving worker (its slots are up), its group and its
        slots; start a replacement at once. None if no worker serves yet."""
        picked = self._pick()
        if picked is None:
            return None
        worker, slots = picked
        at = time.monotonic()
        kill_group(worker.proc.pid)
        for slot in slots:
            kill_group(slot)
        worker.proc.wait()
        worker.log.close()
        self.workers.remove(worker)
        self._start_one()
        return Kill(at, "worker", worker.name, {worker.proc.pid, *slots})

    def kill_slot(self) -> Kill | None:
        """SIGKILL one random slot process of a random worker (the worker lives on)."""
        picked = self._pick()
        if picked is None:
            return None
        worker, slots = picked
        slot = self.rng.choice(slots)
        at = time.monotonic()
        kill_group(slot)
        return Kill(at, "slot", worker.name, {slot})

    def replace_exited(self) -> list[str]:
        """Replace the workers that exited on their own (not killed by us): a
        finding worth reporting, not noise. Returns ``name: exit code`` of each."""
        exited = []
        for worker in list(self.workers):
            code = worker.proc.poll()
            if code is not None:
                exited.append(f"{worker.name}: exit code {code}")
                worker.log.close()
                self.workers.remove(worker)
                self._start_one()
        return exited

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM every worker (a graceful stop), then SIGKILL what is left."""
        for worker in self.workers:
            with contextlib.suppress(ProcessLookupError):
                worker.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for worker in self.workers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.proc.wait(max(deadline - time.monotonic(), 0.1))
            slots = children(worker.proc.pid) if worker.proc.poll() is None else []
            kill_group(worker.proc.pid)
            for slot in slots:
                kill_group(slot)
            worker.proc.wait()
            worker.log.close()
        self.workers.clear()


class ThrowawayRedis:
    """A redis-server on a free port of 127.0.0.1, its files in *directory*, with
    the append-only file on (``appendfsync`` as given), so that it can be
    SIGKILLed and restarted on the same port with its data; or frozen."""

    def __init__(self, directory: Path, appendfsync: str = "everysec") -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not on PATH (apt-get install redis-server)")
        self.binary = binary
        shutil.rmtree(directory, ignore_errors=True)  # no data from an earlier run
        self.directory = directory
        self.appendfsync = appendfsync
        self.proc: subprocess.Popen[bytes] | None = None
        self.frozen = False
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 30.0) -> None:
        """Start it (again) and wait until it answers PING with its data loaded."""
        import redis

        self.directory.mkdir(parents=True, exist_ok=True)
        cmd = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "yes", "--appendfsync", self.appendfsync,
               "--dir", str(self.directory), "--logfile", str(self.directory / "redis.log"),
               "--daemonize", "no"]  # fmt: skip
        quiet = subprocess.DEVNULL
        self.proc = subprocess.Popen(cmd, stdin=quiet, stdout=quiet, stderr=quiet,
                                     preexec_fn=partial(die_with_parent, os.getpid()))  # fmt: skip
        deadline = time.monotonic() + timeout
        client = redis.Redis(port=self.port, socket_connect_timeout=1, socket_timeout=1)
        try:
            while time.monotonic() < deadline and self.proc.poll() is None:
                with contextlib.suppress(redis.ConnectionError):  # BusyLoadingError included
                    if client.ping():
                        return
                time.sleep(0.02)
        finally:
            client.close()
        raise RuntimeError(f"redis-server on port {self.port} did not start; see "
                           f"{self.directory / 'redis.log'}")  # fmt: skip

    def crash(self) -> None:
        """SIGKILL: only what the append-only file holds survives."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def freeze(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)
        self.frozen = False

    def flushall(self) -> None:
        import redis

        with redis.Redis(port=self.port, socket_timeout=10) as client:
            client.flushall()

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            if self.frozen:
                self.thaw()
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        shutil.rmtree(self.directory, ignore_errors=True)
