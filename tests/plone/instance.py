"""A real Zope/Plone instance on disk for the worker tests: zope.conf and
site.zcml (FileStorage or a ZEO client), a ZEO server process, and
``zope_script.py`` run in a process of its own for each step that needs the
instance's Zope (a Zope process loads one configuration, once)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BIN = Path(sys.executable).parent

SITE_ZCML = """\
<configure xmlns="http://namespaces.zope.org/zope"
           xmlns:meta="http://namespaces.zope.org/meta"
           xmlns:five="http://namespaces.zope.org/five">
  <include package="Zope2.App" />
  <include package="Products.Five" />
  <meta:redefinePermission from="zope2.Public" to="zope.Public" />
  <five:loadProducts file="meta.zcml"/>
  <five:loadProducts />
  <include package="joblane.contrib.plone" />
  <include package="joblane.contrib.plone.example" />
  <five:loadProductsOverrides />
  <securityPolicy component="AccessControl.security.SecurityPolicy" />
</configure>
"""

ZOPE_CONF = """\
%define INSTANCE {home}
instancehome $INSTANCE
clienthome $INSTANCE/var
debug-mode off
security-policy-implementation python
verbose-security off
default-zpublisher-encoding utf-8
<zodb_db main>
  {storage}
  mount-point /
  cache-size 5000
</zodb_db>
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def make_instance(home: Path, storage: str) -> Path:
    """An instance home with etc/zope.conf over *storage* (a ZConfig section)."""
    (home / "etc").mkdir(parents=True)
    (home / "var").mkdir()
    (home / "etc" / "site.zcml").write_text(SITE_ZCML)
    conf = home / "etc" / "zope.conf"
    conf.write_text(ZOPE_CONF.format(home=home, storage=storage))
    return conf


def filestorage(home: Path) -> str:
    return f"<filestorage>\n    path {home}/var/Data.fs\n  </filestorage>"


def zeoclient(port: int) -> str:
    return f"<zeoclient>\n    server 127.0.0.1:{port}\n    storage 1\n  </zeoclient>"


class ZEOServer:
    """``runzeo`` over a FileStorage in *directory*, on a free port."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [str(BIN / "runzeo"), "-a", f"127.0.0.1:{self.port}", "-f", str(directory / "zeo.fs")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("the ZEO server did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def zope(conf: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    """Run ``zope_script.py COMMAND ...`` against the instance; its JSON answer."""
    run = subprocess.run(
        [sys.executable, str(HERE / "zope_script.py"), str(conf), *args],
        capture_output=True, text=True, timeout=240, cwd=ROOT,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-6000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def run_worker(
    conf: Path, url: str, *args: str, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """The Plone worker over *conf* and *url*, in burst mode, to its end."""
    return subprocess.run(
        [sys.executable, "-m", "joblane.contrib.plone.worker", "--zope-conf", str(conf),
         "--burst", "--import", "joblane.contrib.plone.example.jobs",
         "--import", "tests.plone.sitejobs", *args],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT,
        env={**os.environ, "JOBLANE_URL": url},
    )  # fmt: skip


def start_worker(conf: Path, url: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "joblane.contrib.plone.worker", "--zope-conf", str(conf),
         "--burst", "--import", "joblane.contrib.plone.example.jobs",
         "--import", "tests.plone.sitejobs", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
        env={**os.environ, "JOBLANE_URL": url},
    )  # fmt: skip


class RedisServer:
    """A throwaway ``redis-server`` on a free port (never the machine's own);
    skips without the binary, fails instead under JOBLANE_REQUIRE_SERVERS=1."""

    def __init__(self, directory: Path) -> None:
        import shutil

        import pytest

        binary = shutil.which("redis-server")
        if binary is None:
            message = "redis-server is not installed (apt-get install redis-server)"
            if os.environ.get("JOBLANE_REQUIRE_SERVERS") == "1":
                pytest.fail(message)
            pytest.skip(message)
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
