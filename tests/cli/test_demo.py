"""``joblane demo`` as a newcomer runs it: a real process in an empty directory,
with no JOBLANE_URL, that must end cleanly and leave no process behind."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.cli.conftest import (
    Cli,
    Processes,
    free_port,
    port_open,
    queue_counts,
    session_members,
    wait_until,
)

pytestmark = pytest.mark.slow

DEMO_FUNCTIONS = {
    "purge_cdn": "finished",
    "collect_stats": "finished",
    "compute_embedding": "finished",
    "sync_content": "finished",  # after a retry
    "send_digest": "finished",  # scheduled 5 s ahead
    "import_feed": "failed",
}


def _default_sigint() -> None:
    """Ctrl+C as in a terminal, whoever runs the tests: a command started in the
    background by a shell without job control (``cmd &``) inherits SIGINT ignored,
    and Python then leaves it so, as would the demo."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_demo(processes: Processes, tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    """``python -m joblane demo ARGS`` in tmp_path, leading its own session (so
    that everything it starts can be found afterwards); stderr goes to a file."""
    stderr = (tmp_path / "demo.err").open("w")
    try:
        return processes.start(
            "demo", *args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=stderr,
            start_new_session=True, preexec_fn=_default_sigint,
        )  # fmt: skip
    finally:
        stderr.close()  # the child has its own copy


def ended_lines(out: str) -> dict[str, str]:
    """{function: status} from the demo's ``-> STATUS joblane.demo.FUNC: ...`` lines."""
    found = re.findall(r"^-> (\w+)\s+joblane\.demo\.(\w+): ", out, re.MULTILINE)
    return {func: status for status, func in found}


def assert_demo_output(out: str) -> None:
    assert "Enqueued 6 demo jobs on sqlite:///joblane.db:" in out
    assert ended_lines(out) == DEMO_FUNCTIONS
    assert out.count("\n-> ") == 6  # each job reported once
    assert "All demo jobs ended." in out
    assert "\nWhere to look:\n" in out
    assert "  joblane --url sqlite:///joblane.db info\n" in out


def assert_demo_database(cli: Cli, tmp_path: Path) -> None:
    """The demo leaves joblane.db in its directory, with what it did."""
    assert (tmp_path / "joblane.db").is_file()
    cli.url = f"sqlite:///{tmp_path / 'joblane.db'}"
    counts = queue_counts(cli.info())
    assert (counts["important"]["finished"], counts["low"]["finished"]) == (2, 1)
    assert (counts["normal"]["finished"], counts["normal"]["failed"]) == (2, 1)
    assert "No live workers." in cli.info()


def test_demo_without_the_api(cli: Cli, tmp_path: Path, processes: Processes) -> None:
    proc = start_demo(processes, tmp_path, "--exit-when-done", "--no-api", "--timeout", "60")
    out, _ = proc.communicate(timeout=90)
    err = (tmp_path / "demo.err").read_text()
    assert proc.returncode == 0, (out, err)
    assert_demo_output(out)
    assert "token for this run" not in out
    assert "@rq-queues" not in out
    assert "Traceback" not in err
    # The job "Where to look" names is the one that failed for good.
    (failed_id,) = re.findall(r"joblane --url sqlite:///joblane.db job (\w+)\n", out)
    assert_demo_database(cli, tmp_path)
    job = cli.job(failed_id)
    assert (job["func_name"], job["status"]) == ("joblane.demo.import_feed", "failed")
    # Its worker and the worker's slots are gone (allowing them a moment to be reaped).
    wait_until(lambda: session_members(proc.pid) == [], 5, "the demo's processes to end")


def read_lines(proc: subprocess.Popen[str], lines: list[str]) -> threading.Thread:
    """Collect *proc*'s stdout lines as they come, in a thread."""
    assert proc.stdout is not None
    stdout = proc.stdout

    def read() -> None:
        for line in stdout:
            lines.append(line)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def test_demo_with_the_api(cli: Cli, tmp_path: Path, processes: Processes) -> None:
    port = free_port()
    api = f"http://127.0.0.1:{port}/@rq-queues"
    proc = start_demo(
        processes, tmp_path, "--exit-when-done", "--port", str(port), "--timeout", "60"
    )
    lines: list[str] = []
    reader = read_lines(proc, lines)

    def token() -> str | None:
        found = re.search(r"token for this run: (\S+)", "".join(lines))
        return found.group(1) if found else None

    wait_until(lambda: token() is not None or proc.poll() is not None, 30, "the run's token")
    bearer = token()
    assert bearer, "".join(lines)

    # While the demo runs, the API answers at the printed URL with the printed token.
    def answered() -> bool:
        try:
            response = httpx.get(api, headers={"Authorization": f"Bearer {bearer}"}, timeout=5)
        except httpx.TransportError:
            return False
        assert response.status_code == 200, response.text
        return True

    wait_until(lambda: answered() or proc.poll() is not None, 30, "the API")
    assert proc.poll() is None, "the demo ended before its API answered"
    assert len(session_members(proc.pid)) >= 3  # the demo, its worker and its API (at least)
    response = httpx.get(api, headers={"Authorization": f"Bearer {bearer}"}, timeout=5)
    assert {"important", "normal", "low"} <= {q["name"] for q in response.json()["items"]}
    assert httpx.get(api, timeout=5).status_code == 401  # the API wants the credentials

    # The demo's worker runs a cron schedule: listed by the API and by info, with its next run.
    schedules_url = api.replace("@rq-queues", "@rq-schedules")

    def schedules() -> list[dict[str, object]]:
        headers = {"Authorization": f"Bearer {bearer}"}
        items: list[dict[str, object]] = httpx.get(schedules_url, headers=headers,
                                                   timeout=5).json()["items"]  # fmt: skip
        return items

    wait_until(lambda: schedules() != [], 30, "the demo's schedule")
    [schedule] = schedules()
    assert (schedule["name"], schedule["spec"], schedule["queue"]) == (
        "joblane.demo.refresh_sitemap",
        "* * * * *",
        "cron",
    )
    assert schedule["next_run"]
    cli.url = f"sqlite:///{tmp_path / 'joblane.db'}"
    info = cli.info()
    assert "Schedules (times UTC)" in info and "joblane.demo.refresh_sitem" in info

    assert proc.wait(90) == 0, (tmp_path / "demo.err").read_text()
    reader.join(10)
    out = "".join(lines)
    assert_demo_output(out)
    assert f"  queues:  {api}\n" in out
    assert f"  {api}  (with the token or user printed above)\n" in out.split("Where to look:")[1]
    assert "Traceback" not in (tmp_path / "demo.err").read_text()
    assert_demo_database(cli, tmp_path)
    # Nothing left: not the worker, not its slots, not the API.
    wait_until(lambda: session_members(proc.pid) == [], 5, "the demo's processes to end")
    assert not port_open(port)


def test_demo_reports_an_api_that_cannot_start(tmp_path: Path, processes: Processes) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = start_demo(processes, tmp_path, "--port", str(port), "--timeout", "60")
        started = time.monotonic()
        out, _ = proc.communicate(timeout=90)
    err = (tmp_path / "demo.err").read_text()
    errors = [line for line in err.splitlines() if line.startswith("Error: ")]
    assert proc.returncode == 1, (proc.returncode, out, err)
    assert len(errors) == 1 and str(port) in errors[0], err
    assert "keep serving" not in out
    assert time.monotonic() - started < 60
    wait_until(lambda: session_members(proc.pid) == [], 5, "the demo's processes to end")


def test_one_ctrl_c_stops_the_demo_gracefully(tmp_path: Path, processes: Processes) -> None:
    # A terminal's Ctrl+C goes to the foreground process group: the demo's.
    proc = start_demo(processes, tmp_path, "--no-api", "--timeout", "60")
    lines: list[str] = []
    reader = read_lines(proc, lines)
    wait_until(lambda: "keep serving" in "".join(lines) or proc.poll() is not None, 60,
               "the demo to serve")  # fmt: skip
    assert proc.poll() is None, "".join(lines)
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(30) == 0
    reader.join(10)
    err = (tmp_path / "demo.err").read_text()
    # One graceful stop of its worker, not a graceful stop and at once a second one.
    assert err.count("received, stopping within 30 s") == 1, err
    assert "stopping at once" not in err
    assert "Traceback" not in err
    wait_until(lambda: session_members(proc.pid) == [], 5, "the demo's processes to end")
