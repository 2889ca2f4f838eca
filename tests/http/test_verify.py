"""The signature and the verifier (framework-neutral), the replay stores, and
the WSGI middleware under a real wsgiref server."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import httpx
import pytest

from joblane.errors import ReplayedTaskRequestError, TaskRequestError
from joblane.http import MemoryReplayStore, SQLiteReplayStore, Verifier, configure, current_task
from joblane.http.asgi import TaskRequestMiddleware as AsgiMiddleware
from joblane.http.replay import RedisReplayStore, ReplayStore, replay_store
from joblane.http.signing import check, sign, target
from joblane.http.wsgi import TaskRequestMiddleware
from tests.http.conftest import OLD_SECRET, SECRET
from tests.servers import shared_redis

T = 1_800_000_000
NONCE = "ab" * 16


def signed(
    secret: str = SECRET, *, user: str | None = "alice", method: str = "POST",
    path: str = "/site/view", query: str = "a=1", body: bytes = b"data", at: int = T,
    nonce: str = NONCE, task: str = "task-1",
) -> dict[str, str]:  # fmt: skip
    return sign(secret, task, user, method, target(path, query), body, at, nonce)


def checked(headers: dict[str, str], *, secrets: Iterable[str] = (SECRET,), now: float = T,
            method: str = "POST", path: str = "/site/view", query: str = "a=1",
            body: bytes = b"data") -> Any:  # fmt: skip
    return check(headers, method, target(path, query), body, secrets, now, 300)


def test_a_signed_request_verifies_and_names_its_task_and_user() -> None:
    task = checked(signed())
    assert (task.task_id, task.user_id, task.nonce, task.timestamp) == ("task-1", "alice", NONCE, T)
    nobody = checked(signed(user=None))
    assert nobody.user_id is None


def test_no_task_header_is_an_ordinary_request() -> None:
    assert checked({"Accept": "text/html"}) is None


@pytest.mark.parametrize(
    ("change", "value"),
    [("method", "GET"), ("path", "/site/other"), ("query", "a=2"), ("body", b"datA")],
)
def test_any_signed_part_changed_breaks_the_signature(change: str, value: object) -> None:
    with pytest.raises(TaskRequestError, match="does not match"):
        checked(signed(), **{change: value})  # type: ignore[arg-type]


def test_forged_or_missing_parts_are_refused() -> None:
    with pytest.raises(TaskRequestError, match="without a X-Task-Signature"):
        checked({"X-Task-Id": "task-1", "X-Task-User-Id": "admin"})
    with pytest.raises(TaskRequestError, match="does not match"):
        checked(dict(signed(), **{"X-Task-User-Id": "admin"}))
    with pytest.raises(TaskRequestError, match="does not match"):  # a user added to no one's task
        checked(dict(signed(user=None), **{"X-Task-User-Id": "admin"}))
    with pytest.raises(TaskRequestError, match="does not match"):
        checked(dict(signed(), **{"X-Task-Id": "task-2"}))
    with pytest.raises(TaskRequestError, match="does not match"):
        checked(signed("another-secret-0123456789abcdef"))
    with pytest.raises(TaskRequestError, match=r"not t=\.\.\.,n=\.\.\.,v1="):
        checked(dict(signed(), **{"X-Task-Signature": "sha256=abc"}))
    with pytest.raises(TaskRequestError, match="more than once"):
        checked([*signed().items(), ("x-task-user-id", "admin")])  # type: ignore[arg-type]
    with pytest.raises(TaskRequestError, match="no secret"):
        checked(signed(), secrets=())


def test_rotation_every_listed_secret_verifies() -> None:
    assert checked(signed(OLD_SECRET), secrets=(SECRET, OLD_SECRET)).user_id == "alice"
    with pytest.raises(TaskRequestError):
        checked(signed(OLD_SECRET), secrets=(SECRET,))


def test_a_time_outside_the_window_is_refused() -> None:
    assert checked(signed(), now=T + 300) is not None
    with pytest.raises(ReplayedTaskRequestError, match="outside the window"):
        checked(signed(), now=T + 301)
    with pytest.raises(ReplayedTaskRequestError, match="outside the window"):
        checked(signed(), now=T - 301)


def make_store(kind: str, tmp_path: Path) -> ReplayStore:
    if kind == "memory":
        return MemoryReplayStore()
    if kind == "sqlite":
        return SQLiteReplayStore(str(tmp_path / "nonces.db"))
    return RedisReplayStore(shared_redis().url())


@pytest.mark.parametrize("kind", ["memory", "sqlite", "redis"])
def test_a_nonce_is_accepted_once_until_it_expires(kind: str, tmp_path: Path) -> None:
    store = make_store(kind, tmp_path)
    key = f"{kind}-{tmp_path.name}"
    assert store.first_seen(key, T, T + 600) is True
    assert store.first_seen(key, T + 1, T + 600) is False
    assert store.first_seen(key + "-other", T + 1, T + 600) is True


def test_the_sqlite_store_is_shared_by_verifiers_of_one_file(tmp_path: Path) -> None:
    path = str(tmp_path / "nonces.db")
    one = Verifier([SECRET], replay=SQLiteReplayStore(path), clock=lambda: T)
    two = Verifier([SECRET], replay=replay_store(f"sqlite:///{path}"), clock=lambda: T)
    assert one.verify("POST", "/site/view", "a=1", signed(), b"data") is not None
    with pytest.raises(ReplayedTaskRequestError, match="seen before"):
        two.verify("POST", "/site/view", "a=1", signed(), b"data")
    # A retry of the same task is signed with a new nonce: not a replay.
    retry = signed(nonce="cd" * 16)
    assert two.verify("POST", "/site/view", "a=1", retry, b"data") is not None


def test_an_unreachable_replay_store_refuses_rather_than_trusts() -> None:
    class Down:
        def first_seen(self, key: str, now: float, expires: float) -> bool:
            raise ConnectionError("redis is down")

    verifier = Verifier([SECRET], replay=Down(), clock=lambda: T)
    with pytest.raises(TaskRequestError, match="replay store failed"):
        verifier.verify("POST", "/site/view", "a=1", signed(), b"data")


def test_replay_store_urls() -> None:
    assert isinstance(replay_store(None), MemoryReplayStore)
    with pytest.raises(Exception, match="use memory://, sqlite:///path or redis://"):
        replay_store("postgres://x")


# -- the WSGI middleware, under a real wsgiref server ------------------------------------


class Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def inner(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    task = environ["joblane.task"]
    assert current_task() is task
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain")])
    user = None if task is None else task.user_id
    return [f"user={user} body={body.decode()}".encode()]


@pytest.fixture
def wsgi_url() -> Iterator[str]:
    verifier = Verifier([SECRET, OLD_SECRET])
    server = make_server("127.0.0.1", 0, TaskRequestMiddleware(inner, verifier=verifier),
                         handler_class=Quiet)  # fmt: skip
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_wsgi_middleware_trusts_only_a_verified_user(wsgi_url: str) -> None:
    now = int(time.time())
    headers = signed(OLD_SECRET, path="/site/view", query="a=1", at=now)
    ok = httpx.post(f"{wsgi_url}/site/view?a=1", headers=headers, content=b"data")
    assert (ok.status_code, ok.text) == (200, "user=alice body=data")
    replayed = httpx.post(f"{wsgi_url}/site/view?a=1", headers=headers, content=b"data")
    assert replayed.status_code == 401 and "seen before" in replayed.text
    forged = httpx.post(f"{wsgi_url}/site/view?a=1", headers={"X-Task-User-Id": "admin"},
                        content=b"data")  # fmt: skip
    assert forged.status_code == 401
    plain = httpx.post(f"{wsgi_url}/site/view?a=1", content=b"data")
    assert (plain.status_code, plain.text) == (200, "user=None body=data")


# -- the ASGI middleware and bodies over the limit -----------------------------------------


async def echo_length(scope: dict[str, Any], receive: Any, send: Any) -> None:
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    task = scope["joblane.task"]
    body = f"{size} {None if task is None else task.user_id}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def test_asgi_middleware_streams_a_large_ordinary_body_and_refuses_a_large_task() -> None:
    configure(max_body=100)
    app = AsgiMiddleware(echo_length, verifier=Verifier([SECRET]))  # type: ignore[arg-type]

    async def main() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            big = await client.post("/v", content=b"y" * 1000)
            now = int(time.time())
            small = await client.post("/v?a=1", content=b"data", headers=signed(path="/v", at=now))
            task = await client.post("/v", content=b"z" * 1000,
                                     headers=signed(path="/v", query="", body=b"z" * 1000, at=now,
                                                    nonce="ef" * 16))  # fmt: skip
            return big, small, task

    big, small, task = asyncio.run(main())
    assert (big.status_code, big.text) == (200, "1000 None")
    assert (small.status_code, small.text) == (200, "4 alice")
    assert task.status_code == 401 and "over 100 bytes" in task.text
