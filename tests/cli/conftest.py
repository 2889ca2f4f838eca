"""The ``joblane`` command as a user meets it, over a SQLite file in tmp_path.

Most tests call :func:`joblane.cli.main` in-process (``cli`` fixture); the
ones where process behaviour matters run ``python -m joblane`` for real.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from joblane.cli import main

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        assert self.code == 0, self.err
        return orjson.loads(self.out)


class Cli:
    """``joblane --url URL ARGS...`` in this process; stdout and stderr captured."""

    def __init__(self, url: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.url = url
        self.capsys = capsys

    def __call__(self, *args: str) -> Result:
        self.capsys.readouterr()  # drop anything printed before
        code = main(["--url", self.url, *args])
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)

    def ok(self, *args: str) -> str:
        """Run a command that must succeed; its stdout."""
        result = self(*args)
        assert (result.code, result.err) == (0, ""), result
        return result.out

    def enqueue(self, *args: str) -> str:
        """``enqueue ARGS``; the printed job id."""
        out = self.ok("enqueue", *args)
        assert out.endswith("\n") and out.count("\n") == 1, out
        return out.strip()

    def job(self, job_id: str) -> dict[str, Any]:
        """``job JOB_ID`` parsed."""
        data = orjson.loads(self.ok("job", job_id))
        assert isinstance(data, dict)
        return data

    def info(self) -> str:
        return self.ok("info")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No joblane settings leak in from the environment of the test run."""
    for name in list(os.environ):
        if name.startswith("JOBLANE_"):
            monkeypatch.delenv(name)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'jobs.db'}"


@pytest.fixture
def cli(db_url: str, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(db_url, capsys)


# -- reading the output ------------------------------------------------------------


def assert_one_error_line(result: Result, code: int, *names: str) -> str:
    """The failure a user should see: exit *code*, nothing on stdout, and one
    line on stderr starting with ``Error: `` that names each of *names*."""
    assert result.code == code, result
    assert "Traceback" not in result.err, result.err
    assert result.err.endswith("\n") and result.err.count("\n") == 1, result.err
    line = result.err.rstrip("\n")
    assert line.startswith("Error: "), line
    for name in names:
        assert name in line, (name, line)
    assert result.out == "", result.out
    return line


def table_rows(out: str, title: str) -> tuple[list[str], list[list[str]]]:
    """The header and rows of the rich table titled *title* in *out*."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(title))
    header: list[str] = []
    rows: list[list[str]] = []
    for line in lines[start + 1 :]:
        if line.startswith("┃"):
            header = [cell.strip() for cell in line.strip("┃").split("┃")]
        elif line.startswith("│"):
            rows.append([cell.strip() for cell in line.strip("│").split("│")])
        elif line.startswith("└"):
            break
    assert header, out
    return header, rows


def queue_counts(out: str) -> dict[str, dict[str, int]]:
    """``info``'s queue table: {queue: {column: count}}."""
    header, rows = table_rows(out, "Queues")
    assert header[0] == "queue", header
    return {
        row[0]: {col: int(v) for col, v in zip(header[1:], row[1:], strict=True)} for row in rows
    }


def worker_rows(out: str) -> dict[str, dict[str, str]]:
    """``info``'s worker table: {name: {column: cell}}."""
    header, rows = table_rows(out, "Workers")
    return {row[0]: dict(zip(header, row, strict=True)) for row in rows}


def parse_time(text: str) -> datetime:
    """A time as ``job`` prints it (ISO 8601, UTC, no offset)."""
    when = datetime.fromisoformat(text)
    assert when.tzinfo is None, text
    return when.replace(tzinfo=UTC)


# -- real processes ------------------------------------------------------------------


def clean_environ(**extra: str) -> dict[str, str]:
    """This process's environment without any JOBLANE_ setting, plus *extra*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBLANE_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def joblane_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "joblane", *args]


def run_joblane(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """``python -m joblane ARGS`` to completion, output captured."""
    return subprocess.run(
        joblane_command(*args),
        cwd=cwd,
        env=clean_environ() if env is None else env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def wait_until(predicate: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")


def session_members(sid: int) -> list[int]:
    """Live (non-zombie) processes in session *sid* (a process started with
    ``start_new_session=True`` leads its own session; its descendants inherit it)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # state ppid pgrp session ...
        if fields[0] != "Z" and int(fields[3]) == sid:
            members.append(int(entry.name))
    return members


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Processes:
    """Processes a test started: killed (each by its own id) if still running at the end."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []
        self.leaders: set[int] = set()

    def start(self, *args: str, **options: Any) -> subprocess.Popen[str]:
        options.setdefault("cwd", ROOT)
        options.setdefault("env", clean_environ())
        options.setdefault("text", True)
        proc: subprocess.Popen[str] = subprocess.Popen(joblane_command(*args), **options)
        self.procs.append(proc)
        if options.get("start_new_session"):
            self.leaders.add(proc.pid)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
            if proc.pid in self.leaders:
                # What it started in its session (a demo's worker and API), if it leaked.
                for pid in session_members(proc.pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()


@pytest.fixture
def processes() -> Iterator[Processes]:
    procs = Processes()
    yield procs
    procs.stop_all()
