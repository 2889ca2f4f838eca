"""One backend per URL in a process for ``Queue(...)`` and ``Job.fetch(...)``
without an explicit backend."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from joblane.client import Job, Queue
from joblane.config import shared_backend


def url_in(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/shared.db?durability=normal"


def test_queues_and_fetches_of_one_url_share_a_backend(tmp_path: Path) -> None:
    url = url_in(tmp_path)
    first, second = Queue("a", url=url), Queue("b", url=url)
    assert first.backend is second.backend
    job = first.enqueue("os.getpid")
    assert Job.fetch(job.id, url=url).backend is first.backend
    other = Queue("a", url=f"sqlite:///{tmp_path}/other.db")
    assert other.backend is not first.backend


def test_a_closed_backend_is_replaced(tmp_path: Path) -> None:
    url = url_in(tmp_path)
    queue = Queue("a", url=url)
    job = queue.enqueue("os.getpid")
    queue.backend.close()
    again = Queue("a", url=url)
    assert again.backend is not queue.backend
    assert Job.fetch(job.id, url=url).id == job.id


def test_memory_urls_are_not_shared() -> None:
    assert Queue("a", url="memory://").backend is not Queue("a", url="memory://").backend


def test_threads_get_one_backend(tmp_path: Path) -> None:
    url = url_in(tmp_path)
    start = threading.Barrier(8)
    seen: list[object] = []

    def open_one() -> None:
        start.wait()
        seen.append(shared_backend(url))

    threads = [threading.Thread(target=open_one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 8
    assert all(backend is seen[0] for backend in seen)


def test_a_forked_child_opens_its_own(tmp_path: Path) -> None:
    url = url_in(tmp_path)
    parent = shared_backend(url)
    job = Queue("a", url=url).enqueue("os.getpid")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            mine = shared_backend(url)
            ok = mine is not parent and mine is shared_backend(url)
            ok = ok and Job.fetch(job.id, url=url).backend is mine
            code = 0 if ok else 3
        finally:
            os.write(write, bytes([code]))
            os._exit(0)
    os.close(write)
    answer = os.read(read, 1)
    os.close(read)
    os.waitpid(pid, 0)
    assert answer == b"\x00"
    assert shared_backend(url) is parent
