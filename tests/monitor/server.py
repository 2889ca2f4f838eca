"""``joblane serve`` as a real process on a free loopback port, for the acceptance tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from joblane.cli.common import cli

ROOT = Path(__file__).resolve().parents[2]

# Until `serve` is registered in joblane.cli, register it in the child process.
_SHIM = (
    "import sys; from joblane.cli import cli, main; from joblane.cli.serve import serve; "
    "cli.add_command(serve); sys.exit(main(sys.argv[1:]))"
)


def joblane_command(*args: str) -> list[str]:
    """``python -m joblane ARGS`` (through a shim while ``serve`` is not registered)."""
    if "serve" in cli.commands:
        return [sys.executable, "-m", "joblane", *args]
    return [sys.executable, "-c", _SHIM, *args]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """A server process listening on *port*; its output goes to *log*."""

    def __init__(
        self, command: list[str], port: int, log: Path, env: dict[str, str] | None = None
    ) -> None:
        self.port = port
        self.log = log
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("JOBLANE_API_")} | (
            env or {}
        )
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        self._wait_for_port(deadline=time.monotonic() + 30)

    def _wait_for_port(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"joblane serve exited:\n{self.output()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"joblane serve did not listen within 30 s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def joblane_serve(url: str, log: Path, *options: str) -> Server:
    """``joblane --url URL serve --port FREE OPTIONS``."""
    port = free_port()
    command = joblane_command("--url", url, "serve", "--port", str(port), *options)
    return Server(command, port, log)
