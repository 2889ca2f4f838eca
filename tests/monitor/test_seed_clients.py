"""Acceptance: seed 000's two clients, unchanged, against ``joblane serve`` (a real process)
over a SQLite file, with a real worker process running the jobs they wait for."""

# mypy: allow-untyped-calls

from __future__ import annotations

import http.client
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from joblane import Queue
from joblane.config import backend_from_url
from tests.jobs import sample
from tests.monitor.conftest import run_next
from tests.monitor.openapi_check import check_response
from tests.monitor.seed_client import wait_for_job
from tests.monitor.server import ROOT, Server, free_port, joblane_serve

pytestmark = pytest.mark.slow

TOKEN = "seed-client-token"
AUTH = ("admin", "password")
JS_CLIENT = Path(__file__).parent / "js" / "list_queues.mjs"
NODE_FALLBACK = Path("/usr/bin/node")


class Site:
    def __init__(self, url: str, server: Server) -> None:
        self.url = url
        self.server = server
        self.site = f"{server.base}/Plone"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """``joblane serve --prefix /Plone`` over a SQLite file holding one finished job
    (normal) and three waiting ones (low)."""
    tmp = tmp_path_factory.mktemp("served")
    url = f"sqlite:///{tmp / 'jobs.db'}"
    backend = backend_from_url(url)
    Queue("normal", backend=backend).enqueue(sample.add, 2, 3, job_id="seed-finished")
    run_next(backend, "normal", backend.now())
    low = Queue("low", backend=backend)
    for i in range(3):
        low.enqueue(sample.noop, i)
    backend.close()
    server = joblane_serve(url, tmp / "serve.log", "--prefix", "/Plone", "--token", TOKEN,
                    "--user", ":".join(AUTH), "--generate-credentials")  # fmt: skip
    yield Site(url, server)
    server.stop()


def run_worker(url: str, *args: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "joblane", "--url", url, "worker", "--import",
               "tests.jobs.sample", "--queues", "normal", "--concurrency", "1", *args]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)


def test_python_client_waits_for_a_job_to_finish_or_fail(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    backend = backend_from_url(site.url)
    normal = Queue("normal", backend=backend)
    slow = normal.enqueue(sample.sleep, 1.5)
    failing = normal.enqueue(sample.fail, "boom")
    backend.close()
    worker = run_worker(site.url, "--burst")
    try:
        job = wait_for_job(site.site, "normal", slow.id, AUTH)
        print(job["last_job_result"] or job["return_value"])  # the seed's usage
        assert capsys.readouterr().out == "1.5\n"
        assert (job["id"], job["return_value"], job["last_job_result"]) == (slow.id, 1.5, None)
        job = wait_for_job(site.site, "normal", failing.id, AUTH)
        print(job["last_job_result"] or job["return_value"])
        out = capsys.readouterr().out
        assert out.startswith("Traceback (most recent call last):")
        assert "RuntimeError: boom" in out
    finally:
        assert worker.wait(30) == 0


def test_python_client_reports_a_missing_job(site: Site) -> None:
    with pytest.raises(RuntimeError, match=r"^Job not found$"):
        wait_for_job(site.site, "normal", "a1b2c3", AUTH)


def node_or_skip() -> str:
    node = shutil.which("node") or (str(NODE_FALLBACK) if NODE_FALLBACK.exists() else None)
    message = "node is not installed: install the package 'nodejs' to run seed 000's JS client"
    if node is None:
        if os.environ.get("JOBLANE_REQUIRE_SERVERS") == "1":
            pytest.fail(message + " (required: JOBLANE_REQUIRE_SERVERS=1)")
        pytest.skip(message)
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    major = int(version.stdout.strip().lstrip("v").split(".")[0])
    assert major >= 18, f"node {version.stdout.strip()} has no fetch(): install nodejs 18 or later"
    return node


def test_without_node_the_js_test_skips_or_in_ci_fails(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(sys.modules[__name__], "NODE_FALLBACK", tmp_path / "no-node")
    monkeypatch.delenv("JOBLANE_REQUIRE_SERVERS", raising=False)
    with pytest.raises(pytest.skip.Exception, match="install the package 'nodejs'"):
        node_or_skip()
    monkeypatch.setenv("JOBLANE_REQUIRE_SERVERS", "1")
    with pytest.raises(pytest.fail.Exception, match=r"install the package 'nodejs'.*REQUIRE"):
        node_or_skip()


def test_javascript_client_lists_the_queues(site: Site) -> None:
    node = node_or_skip()
    env = dict(os.environ, SITE_URL=site.site, TOKEN=TOKEN)
    result = subprocess.run(
        [node, str(JS_CLIENT)], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "important: 0 pending",
        "low: 3 pending",
        "normal: 0 pending",
    ]


def printed_command(output: str, starts: str) -> str:
    match = re.search(rf"^{re.escape(starts)}.*?^EOF$", output, re.M | re.S)
    assert match, output
    return match.group(0)


def test_serve_prints_a_working_token_and_both_client_commands(site: Site) -> None:
    node_or_skip()
    output = site.server.output()
    assert re.search(r"^  token for this run: \S{40,}$", output, re.M), output
    assert re.search(r"^  user for this run:  monitor:\S{20,}$", output, re.M), output
    js = subprocess.run(
        ["bash", "-c", printed_command(output, "node ")],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert js.returncode == 0, js.stderr
    assert "low: 3 pending" in js.stdout.splitlines()
    # As printed: the interpreter joblane runs in, with requests installed into
    # its environment first (a fresh clone's .venv has joblane, not requests).
    command = printed_command(output, f"{sys.executable} -m pip install -q requests && ")
    python = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120)
    assert (python.returncode, python.stdout) == (0, "5\n"), python.stderr


def raw_get(site: Site, path: str, method: str = "GET") -> httpx2.Response:
    """A request sent as written (http.client normalizes nothing), checked against OpenAPI."""
    connection = http.client.HTTPConnection("127.0.0.1", site.server.port, timeout=10)
    try:
        connection.request(method, path, headers={"Authorization": f"Bearer {TOKEN}"})
        answer = connection.getresponse()
        response = httpx2.Response(
            answer.status,
            headers=answer.getheaders(),
            content=answer.read(),
            request=httpx2.Request(method, site.server.base + path),
        )
    finally:
        connection.close()
    check_response(response, "/Plone")
    return response


@pytest.mark.parametrize(
    ("path", "status", "kind"),
    [
        ("/Plone/@rq-queues/..", 400, "BadRequest"),
        ("/Plone/@rq-queues/../failed_job_registry", 400, "BadRequest"),
        ("/Plone/@rq-job/normal/..", 400, "BadRequest"),
        ("/Plone/@rq-job/../seed-finished", 400, "BadRequest"),
        ("/Plone/../@rq-queues", 404, "NotFound"),
        ("/Plone/@rq-queues/normal%2Ffailed_job_registry", 400, "BadRequest"),
        ("/Plone/@rq-queues/normal%2ffailed_job_registry", 400, "BadRequest"),
        ("/Plone/@rq-job/normal/%2E%2E%2F%2E%2E%2Fetc", 400, "BadRequest"),
        ("/Plone/@rq-queues/" + "n" * 8000, 400, "BadRequest"),
        ("/Plone/@rq-queues/n%C3%B6rmal", 400, "BadRequest"),
        ("/Plone/@rq-queues/%FF", 400, "BadRequest"),
        ("/Plone/@rq-queues/normal/failed_job_registry?start=-1", 400, "BadRequest"),
        ("/Plone/@rq-queues/nightly", 404, "NotFound"),
    ],
)
def test_path_tricks_sent_as_written_to_the_real_server(
    site: Site, path: str, status: int, kind: str
) -> None:
    response = raw_get(site, path)
    assert response.status_code == status
    assert response.json()["error"]["type"] == kind
    assert "Traceback" not in response.text


def test_a_write_method_on_the_real_server_is_405(site: Site) -> None:
    response = raw_get(site, "/Plone/@rq-queues", method="DELETE")
    assert (response.status_code, response.headers["allow"]) == (405, "GET, HEAD, OPTIONS")


def test_uvicorn_runs_the_api_configured_by_the_environment(site: Site, tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "--factory",
               "joblane.monitor.api:create_api_from_env", "--port", str(port)]  # fmt: skip
    env = {"JOBLANE_URL": site.url, "JOBLANE_API_PREFIX": "/site", "JOBLANE_API_USERS": "ops:pw"}
    server = Server(command, port, tmp_path / "uvicorn.log", env)
    try:
        job = wait_for_job(f"{server.base}/site", "normal", "seed-finished", ("ops", "pw"))
        assert job["return_value"] == 5
    finally:
        server.stop()
