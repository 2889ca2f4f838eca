"""JobRecord <-> job hash, Settlement -> script arguments, WorkerInfo <-> JSON.

The field names and defaults are those of the key layout (keys.py). Kept plain
for the hot path: one list per job each way. A value that no joblane wrote (an
unknown status, a field that does not decode) raises BackendError naming the
job, as the SQLite backend does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from joblane.backends.base import WorkerInfo
from joblane.core.job import DEFAULT_FAILURE_TTL, DEFAULT_RESULT_TTL, JobRecord
from joblane.core.outcome import Settlement, Start
from joblane.core.serialization import dumps
from joblane.core.states import JobStatus
from joblane.errors import BackendError

Arg = str | bytes | int | float

_STATUSES = {status.value.encode(): status for status in JobStatus}
_TAG = b"="
"""Put before an optional text or bytes argument that is present (see settle.lua)."""


def job_fields(job: JobRecord) -> list[Arg]:
    """The hash of *job* as field, value, field, value... (defaults left out)."""
    out: list[Arg] = [
        "q", job.queue, "f", job.func_name, "p", job.payload, "s", job.status.value,
        "c", job.created,
    ]  # fmt: skip
    optional: tuple[tuple[str, Arg | None], ...] = (
        ("e", job.enqueued), ("st", job.started), ("en", job.ended), ("sc", job.scheduled),
        ("to", job.job_timeout), ("tt", job.ttl), ("w", job.worker_name), ("r", job.result),
        ("lr", job.last_job_result), ("x", job.expires_at), ("lt", job.lease_token),
        ("le", job.lease_expires),
    )  # fmt: skip
    for name, value in optional:
        if value is not None:
            out += (name, value)
    if job.result_ttl != DEFAULT_RESULT_TTL:
        out += ("rt", job.result_ttl)
    if job.failure_ttl != DEFAULT_FAILURE_TTL:
        out += ("ft", job.failure_ttl)
    counters = (("rl", job.retries_left), ("a", job.attempts), ("la", job.lost_attempts))
    for name, count in counters:
        if count:
            out += (name, count)
    if job.retry_intervals:
        out += ("ri", orjson.dumps(job.retry_intervals))
    if job.meta:
        out += ("m", dumps(job.meta, "meta"))
    if job.depends_on:
        out += ("d", ",".join(job.depends_on))
    if job.at_front:
        out += ("af", "1")
    if job.cancel_requested:
        out += ("cr", "1")
    return out


def _number(raw: bytes) -> int | float:
    """An int if it was written as one, else a float (as Python wrote it)."""
    try:
        return int(raw)
    except ValueError:
        return float(raw)


def _opt_float(raw: bytes | None) -> float | None:
    return None if raw is None else float(raw)


def job_record(job_id: bytes | str, flat: Sequence[bytes]) -> JobRecord:
    """The JobRecord of a job hash, given as HGETALL's flat list."""
    job_key = job_id.decode() if isinstance(job_id, bytes) else job_id
    h = dict(zip(flat[::2], flat[1::2], strict=True))
    status = _STATUSES.get(h.get(b"s", b""))
    if status is None:
        raise BackendError(
            f"job {job_key!r} has the status {h.get(b's')!r}, which this version of joblane "
            "does not know: the data was written by another version or edited by hand"
        )
    try:
        return _decode(job_key, status, h)
    except (ValueError, TypeError, KeyError) as exc:
        raise BackendError(f"job {job_key!r} has a field that cannot be decoded: {exc}") from exc


def _decode(job_id: str, status: JobStatus, h: dict[bytes, bytes]) -> JobRecord:
    get = h.get
    timeout, ttl, worker = get(b"to"), get(b"tt"), get(b"w")
    last, lease, intervals = get(b"lr"), get(b"lt"), get(b"ri")
    meta, deps = get(b"m"), get(b"d")
    return JobRecord(
        id=job_id,
        queue=h[b"q"].decode(),
        func_name=h[b"f"].decode(),
        payload=h[b"p"],
        status=status,
        created=float(h[b"c"]),
        enqueued=_opt_float(get(b"e")),
        started=_opt_float(get(b"st")),
        ended=_opt_float(get(b"en")),
        scheduled=_opt_float(get(b"sc")),
        job_timeout=None if timeout is None else _number(timeout),
        result_ttl=int(_number(get(b"rt", b"%d" % DEFAULT_RESULT_TTL))),
        ttl=None if ttl is None else int(_number(ttl)),
        failure_ttl=int(_number(get(b"ft", b"%d" % DEFAULT_FAILURE_TTL))),
        retries_left=int(get(b"rl", b"0")),
        retry_intervals=tuple(orjson.loads(intervals)) if intervals else (),
        attempts=int(get(b"a", b"0")),
        meta=orjson.loads(meta) if meta else {},
        worker_name=None if worker is None else worker.decode(),
        result=get(b"r"),
        last_job_result=None if last is None else last.decode(),
        depends_on=tuple(deps.decode().split(",")) if deps else (),
        at_front=get(b"af") == b"1",
        expires_at=_opt_float(get(b"x")),
        lease_token=None if lease is None else lease.decode(),
        lease_expires=_opt_float(get(b"le")),
        cancel_requested=get(b"cr") == b"1",
        lost_attempts=int(get(b"la", b"0")),
    )


def job_records(reply: Sequence[Any]) -> list[JobRecord]:
    """The jobs of a script reply laid out as id, hash, id, hash..."""
    return [job_record(reply[i], reply[i + 1]) for i in range(0, len(reply), 2)]


def _tagged(value: str | bytes | None) -> bytes:
    if value is None:
        return b""
    return _TAG + (value.encode() if isinstance(value, str) else value)


def _opt(value: float | None) -> Arg:
    return "" if value is None else value


def settlement_args(settlements: Sequence[Settlement], starts: Sequence[Start] = ()) -> list[Arg]:
    """The 15 arguments of each settlement, in settle_one's order, then the 3 of
    each start, in start_one's order (_common.lua), each list after its length."""
    out: list[Arg] = [len(settlements)]
    for s in settlements:
        out += (
            s.job_id, s.token, s.status.value, _opt(s.ended), _tagged(s.result),
            _tagged(s.last_job_result), s.retries_left, s.attempts, _opt(s.scheduled),
            _opt(s.enqueued), _opt(s.expires_at), "1" if s.delete else "0",
            _opt(s.started), s.lost_attempts, "1" if s.front else "0",
        )  # fmt: skip
    out.append(len(starts))
    for start in starts:
        out += (start.job_id, start.token, start.started)
    return out


def worker_json(info: WorkerInfo) -> bytes:
    return orjson.dumps(
        {
            "name": info.name,
            "hostname": info.hostname,
            "pid": info.pid,
            "queues": list(info.queues),
            "concurrency": info.concurrency,
            "started": info.started,
            "heartbeat": info.heartbeat,
            "expires": info.expires,
            "current_jobs": list(info.current_jobs),
            "state": info.state,
        }
    )


def worker_info(raw: bytes | str) -> WorkerInfo:
    data = orjson.loads(raw)
    return WorkerInfo(
        name=data["name"],
        hostname=data["hostname"],
        pid=data["pid"],
        queues=tuple(data["queues"]),
        concurrency=data["concurrency"],
        started=data["started"],
        heartbeat=data["heartbeat"],
        expires=data["expires"],
        current_jobs=tuple(data["current_jobs"]),
        state=data["state"],
    )
