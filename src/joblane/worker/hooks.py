"""Success and failure callbacks, run by the worker off its loop.

A callback is called as ``callback(job, outcome)``: *job* is the
:class:`~joblane.core.job.JobRecord` as the attempt settled it (``status``
``finished``, ``failed``, or ``scheduled``/``queued`` for a retry; ``ended``,
``last_job_result`` with the traceback text, ``retries_left``...) and
*outcome* the attempt's :class:`~joblane.core.outcome.Outcome`.

They run in the worker process (not the job's slot), once the worker has
decided the attempt's settlement: that is where every end is known, including
those with no exception in any process (a timeout kill, a slot that died,
a refused function). They run on one thread of their own, in order, so a slow
callback never stalls claiming and settling; at most :data:`MAX_BACKLOG` calls
wait, more are dropped with a warning. A callback that raises is logged with
its traceback and changes nothing. On shutdown the worker waits at most
:data:`DRAIN_TIMEOUT` seconds for the calls still waiting.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from joblane.core.job import JobRecord
from joblane.core.outcome import Outcome, OutcomeKind, Settlement
from joblane.tasks import hooks_for

log = logging.getLogger("joblane.worker.hooks")

Callback = Callable[[JobRecord, Outcome], Any]
MAX_BACKLOG = 10_000
DRAIN_TIMEOUT = 5.0


def settled(job: JobRecord, decided: Settlement) -> JobRecord:
    """A copy of *job* as *decided* leaves it."""
    return dataclasses.replace(
        job, status=decided.status, ended=decided.ended, result=decided.result,
        last_job_result=decided.last_job_result, retries_left=decided.retries_left,
        attempts=decided.attempts, scheduled=decided.scheduled, enqueued=decided.enqueued,
        expires_at=decided.expires_at, lost_attempts=decided.lost_attempts,
    )  # fmt: skip


def check_callback(name: str, callback: object) -> None:
    if callback is not None and not callable(callback):
        raise ValueError(f"{name} must be a callable taking (job, outcome), not {callback!r}")


class Hooks:
    """The worker's own callbacks plus each job's ``@job`` ones, on a thread."""

    def __init__(self, on_success: Callback | None, on_failure: Callback | None) -> None:
        check_callback("on_success", on_success)
        check_callback("on_failure", on_failure)
        self.on_success = on_success
        self.on_failure = on_failure
        self._calls: queue.Queue[tuple[Callback, JobRecord, Outcome] | None] = queue.Queue(
            MAX_BACKLOG
        )
        self._thread: threading.Thread | None = None

    def ended(self, job: JobRecord, outcome: Outcome, decided: Settlement) -> None:
        """Queue the callbacks for this attempt's end (never blocks, never raises)."""
        if outcome.kind is OutcomeKind.SUCCEEDED:
            pair = (hooks_for(job.func_name).on_success, self.on_success)
        elif outcome.kind in (OutcomeKind.FAILED, OutcomeKind.LOST):
            pair = (hooks_for(job.func_name).on_failure, self.on_failure)
        else:
            return  # interrupted by a shutdown or stopped by a cancel: not an end
        callbacks = [c for c in pair if c is not None]
        if not callbacks:
            return
        record = settled(job, decided)
        for callback in callbacks:
            try:
                self._calls.put_nowait((callback, record, outcome))
            except queue.Full:
                log.warning("job %s: %d callbacks wait already; %s not called",
                            job.id, MAX_BACKLOG, _name(callback))  # fmt: skip
                continue
            self._start()

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name="joblane-hooks", daemon=True)
            self._thread.start()

    def _serve(self) -> None:
        while (call := self._calls.get()) is not None:
            callback, job, outcome = call
            try:
                callback(job, outcome)
            except Exception:
                log.exception("job %s %s: callback %s raised; the job's outcome stands",
                              job.id, job.func_name, _name(callback))  # fmt: skip

    def close(self, timeout: float = DRAIN_TIMEOUT) -> None:
        """Let the waiting calls run for at most *timeout* seconds, then stop."""
        if self._thread is None:
            return
        with contextlib.suppress(queue.Full):
            self._calls.put(None, timeout=timeout)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("callbacks still running after %g s; not waiting for them", timeout)


def _name(callback: Callback) -> str:
    module = getattr(callback, "__module__", None)
    qualname = getattr(callback, "__qualname__", None)
    return f"{module}.{qualname}" if module and qualname else repr(callback)
