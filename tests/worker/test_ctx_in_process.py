"""ctx and the lifecycle hooks where jobs run in this process: the thread
executor (WorkerThread) and the immediate backend."""

from __future__ import annotations

from typing import Any

import pytest

from joblane import JobStatus, Queue, Worker, WorkerThread
from joblane.backends.immediate import ImmediateBackend
from joblane.backends.memory import MemoryBackend
from joblane.errors import WorkerStartupError
from tests.jobs import ctxjobs


def test_worker_thread_runs_ctx_jobs_with_its_startup_objects() -> None:
    backend = MemoryBackend()
    queue = Queue("normal", backend=backend)
    naps = [queue.enqueue(ctxjobs.nap, 0.01) for _ in range(4)]
    sync = queue.enqueue(ctxjobs.sync_about, 2)
    shut: list[dict[str, Any]] = []
    with WorkerThread(backend, ["normal"], concurrency=2, on_startup=ctxjobs.startup,
                      on_job_start=ctxjobs.job_start, on_shutdown=shut.append):  # fmt: skip
        results = [j.wait(10).return_value for j in naps]
        about = sync.wait(10).return_value
    # One ctx, made once on the executor's loop (nap asserts it is its running loop).
    assert len({r["pool"] for r in results} | {about["pool"]}) == 1
    assert [r["job_id"] for r in results] == [j.id for j in naps]
    assert all(r["hook_saw"] == r["job_id"] for r in results)
    assert len(shut) == 1 and shut[0]["startups"] == 1


def test_worker_thread_with_a_failing_startup_raises_naming_the_hook() -> None:
    worker = Worker(MemoryBackend(), executor="thread", on_startup=ctxjobs.failing_startup)
    with pytest.raises(WorkerStartupError, match=r"ctxjobs\.failing_startup raised RuntimeError"):
        worker.run(install_signals=False)


def test_the_immediate_backend_gives_ctx() -> None:
    queue = Queue("normal", backend=ImmediateBackend())
    job = queue.enqueue(ctxjobs.listed, invoice_id=3)
    assert job.status is JobStatus.FINISHED
    result = job.return_value
    assert (result["job_id"], result["job_try"], result["invoice_id"]) == (job.id, 1, 3)
    wrong = queue.enqueue(ctxjobs.send_invoice_email, invoice_id=3)
    assert wrong.status is JobStatus.FAILED
    assert (wrong.last_job_result or "").startswith("JobSignatureError")


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "2"])
def test_jobs_per_slot_must_be_a_positive_int(value: Any) -> None:
    with pytest.raises(ValueError, match="jobs_per_slot must be an int >= 1"):
        Worker(MemoryBackend(), jobs_per_slot=value)


def test_a_hook_must_be_callable() -> None:
    with pytest.raises(ValueError, match="on_job_end must be a callable taking"):
        Worker(MemoryBackend(), on_job_end=42)  # type: ignore[arg-type]


def test_a_multi_job_slot_settles_every_kind_of_end_in_burst() -> None:
    # Process slots of this process over the memory backend: outcomes of
    # several jobs per slot come back in any order and each reaches its job.
    from tests.jobs import sample

    backend = MemoryBackend()
    queue = Queue("normal", backend=backend)
    naps = [queue.enqueue(ctxjobs.nap, 0.05 * (i % 3)) for i in range(12)]
    syncs = [queue.enqueue(ctxjobs.sync_about, i) for i in range(4)]
    failing = queue.enqueue(sample.fail, "nope")
    plain = queue.enqueue(sample.add, 2, 3)
    worker = Worker(backend, ["normal"], concurrency=2, jobs_per_slot=4, burst=True,
                    on_startup=ctxjobs.sync_startup)  # fmt: skip
    stats = worker.run(install_signals=False)
    assert stats.finished == 17 and stats.failed == 1
    assert [j.refresh().return_value["job_id"] for j in naps] == [j.id for j in naps]
    assert [j.refresh().return_value["value"] for j in syncs] == [0, 1, 2, 3]
    assert failing.refresh().status is JobStatus.FAILED
    assert "RuntimeError: nope" in (failing.last_job_result or "")
    assert plain.refresh().return_value == 5
