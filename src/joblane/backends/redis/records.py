"""JobRecord <-> job hash, Settlement -> script arguments, WorkerInfo <-> JSON.

The field names and defaults are those of the key layout (keys.py). Kept plain
for the hot path: one list per job each way. A hash that no joblane wrote (a
field that does not decode, an unknown status, a key of another type) is named
by :func:`decode_job`'s CorruptRecordError, or marked by :func:`job_record`:
see joblane.backends.decoding for where such a job ends up.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import chain
from typing import Any

import orjson

from joblane.backends.base import WorkerInfo
from joblane.backends.decoding import (
    SALVAGE_DEFAULTS,
    Reader,
    json_numbers,
    json_object,
    read_fields,
    status,
)
from joblane.backends.decoding import worker_info as decoded_worker
from joblane.backends.encoding import joined_ids, split_ids, worker_fields
from joblane.core.identity import identity_bytes, identity_from_json
from joblane.core.job import (
    DEFAULT_FAILURE_TTL,
    DEFAULT_JOB_TIMEOUT,
    DEFAULT_RESULT_TTL,
    JobRecord,
)
from joblane.core.outcome import Settlement, Start
from joblane.core.serialization import dumps
from joblane.core.states import JobStatus
from joblane.errors import CorruptRecordError

Arg = str | bytes | int | float

_STATUSES = {status.value.encode(): status for status in JobStatus}
_QUEUED = JobStatus.QUEUED
_TAG = b"="
"""Put before an optional text or bytes argument that is present (see settle.lua)."""


_ARGS_HEAD = b'{"args":'
_ARGS_TAIL = b',"kwargs":{}}'
_COMPACT_MIN = len(_ARGS_HEAD) + len(_ARGS_TAIL)
_ENQUEUED_AS_CREATED = b"="
"""``e`` when the job was enqueued when it was created (keys.py)."""
_NO_TIMEOUT = b""
"""``to`` of a job without a timeout (None); no ``to`` is DEFAULT_JOB_TIMEOUT."""


def _payload_field(payload: bytes) -> tuple[str, bytes]:
    """``g`` and the args array of a payload without kwargs, else ``p`` and the payload."""
    if (
        len(payload) >= _COMPACT_MIN
        and payload.startswith(_ARGS_HEAD)
        and payload.endswith(_ARGS_TAIL)
    ):
        return "g", payload[len(_ARGS_HEAD) : -len(_ARGS_TAIL)]
    return "p", payload


def _compact_times(job: JobRecord, out: list[Arg]) -> tuple[float | None, float | None]:
    """Add ``e`` "=" (enqueued as created) and ``to`` "" (no timeout) to *out*
    where they apply; the enqueued time and timeout left to write (None: none)."""
    enqueued, timeout = job.enqueued, job.job_timeout
    if enqueued is not None and enqueued == job.created:
        out += ("e", _ENQUEUED_AS_CREATED)
        enqueued = None
    if timeout is None:
        out += ("to", _NO_TIMEOUT)
    elif timeout.__class__ is float and timeout == DEFAULT_JOB_TIMEOUT:
        timeout = None  # the default: no field
    return enqueued, timeout


def job_fields(job: JobRecord) -> list[Arg]:
    """The hash of *job* as field, value, field, value... (defaults left out)."""
    name, payload = _payload_field(job.payload)
    out: list[Arg] = [
        "q", job.queue, "f", job.func_name, name, payload, "s", job.status.value,
        "c", job.created,
    ]  # fmt: skip
    by = job.enqueued_by
    enqueued, timeout = _compact_times(job, out)
    optional: tuple[tuple[str, Arg | None], ...] = (
        ("e", enqueued), ("st", job.started), ("en", job.ended), ("sc", job.scheduled),
        ("to", timeout), ("tt", job.ttl), ("w", job.worker_name), ("r", job.result),
        ("lr", job.last_job_result), ("x", job.expires_at), ("lt", job.lease_token),
        ("le", job.lease_expires), ("by", None if by is None else identity_bytes(by)),
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
        out += ("d", joined_ids(job.depends_on))
    if job.at_front:
        out += ("af", "1")
    if job.cancel_requested:
        out += ("cr", "1")
    return out


def batch_args(jobs: Sequence[JobRecord]) -> list[Arg] | None:
    """enqueue_many.lua's arguments after the count for *jobs*, or None when
    they are not all queued jobs without dependencies whose hashes have the
    same fields (enqueue.lua stores those): the fields' names once, which
    vary from job to job, the values they share once, then each job's id and
    own values. Each job's hash is job_fields(job), value for value."""
    first = jobs[0]
    if first.status is not _QUEUED or first.depends_on:
        return None
    fields = job_fields(first)
    names = fields[0::2]
    payload_at = names.index("g") if "g" in names else names.index("p")
    payloads = _alike_payloads(jobs, names[payload_at] == "g")
    if payloads is None:
        return _batch_args(jobs)
    shared = fields[1::2]
    shared[payload_at] = ""
    size = len(jobs)
    per_job: list[Arg] = [""] * (2 * size)
    per_job[0::2] = [job.id for job in jobs]
    per_job[1::2] = payloads
    return [len(names), *names, 1, payload_at + 1, *shared, *per_job]


def _alike_payloads(jobs: Sequence[JobRecord], compact: bool) -> list[bytes] | None:
    """Each job's payload field's value (the args array if *compact*, ``g``,
    else the payload, ``p``) when every job holds the very objects of the first
    in every other field that job_fields writes, so that its hash differs from
    the first's only in its id and that value (the records of one
    ``enqueue_many`` run share them: see joblane.core.job.new_jobs); else None.
    Identity, not equality: equal values may be written differently (1, 1.0,
    True; 0.0 and -0.0), the same object never is."""
    f = jobs[0]
    queue, func, status, created, enqueued = f.queue, f.func_name, f.status, f.created, f.enqueued
    started, ended, scheduled, timeout = f.started, f.ended, f.scheduled, f.job_timeout
    result_ttl, ttl, failure_ttl, retries = f.result_ttl, f.ttl, f.failure_ttl, f.retries_left
    intervals, attempts, meta, worker = f.retry_intervals, f.attempts, f.meta, f.worker_name
    result, last, depends_on, front = f.result, f.last_job_result, f.depends_on, f.at_front
    expires, token, lease, cancel = f.expires_at, f.lease_token, f.lease_expires, f.cancel_requested
    lost, by = f.lost_attempts, f.enqueued_by
    out: list[bytes] = []
    append = out.append
    head, tail, least = _ARGS_HEAD, _ARGS_TAIL, _COMPACT_MIN
    start, stop = len(head), -len(tail)
    for job in jobs:
        if not (
            job.queue is queue and job.func_name is func and job.status is status
            and job.created is created and job.enqueued is enqueued
            and job.started is started and job.ended is ended and job.scheduled is scheduled
            and job.job_timeout is timeout and job.result_ttl is result_ttl
            and job.ttl is ttl and job.failure_ttl is failure_ttl
            and job.retries_left is retries and job.retry_intervals is intervals
            and job.attempts is attempts and (job.meta is meta or not (job.meta or meta))
            and job.worker_name is worker and job.result is result
            and job.last_job_result is last and job.depends_on is depends_on
            and job.at_front is front and job.expires_at is expires
            and job.lease_token is token and job.lease_expires is lease
            and job.cancel_requested is cancel and job.lost_attempts is lost
            and job.enqueued_by is by
        ):  # fmt: skip
            return None
        payload = job.payload
        if len(payload) >= least and payload.startswith(head) and payload.endswith(tail):
            if not compact:
                return None
            append(payload[start:stop])
        elif compact:
            return None
        else:
            append(payload)
    return out


def _batch_args(jobs: Sequence[JobRecord]) -> list[Arg] | None:
    """:func:`batch_args` of jobs that do not share their fields' objects: each
    job's fields compared column by column."""
    rows = [job_fields(job) for job in jobs if job.status is _QUEUED and not job.depends_on]
    size = len(rows)
    if size != len(jobs) or len(set(map(len, rows))) != 1:
        return None
    columns = list(zip(*rows, strict=True))  # name, value, name, value...: a tuple each
    names = columns[0::2]
    if any(column.count(column[0]) != size for column in names):
        return None
    values = columns[1::2]
    own = [i for i, column in enumerate(values) if not _same(column, size)]
    shared: list[Arg] = [column[0] for column in values]
    for i in own:
        shared[i] = ""
    per_job = zip([job.id for job in jobs], *(values[i] for i in own), strict=True)
    return [
        len(names), *(column[0] for column in names), len(own), *(i + 1 for i in own),
        *shared, *chain.from_iterable(per_job),
    ]  # fmt: skip


def _same(column: tuple[Arg, ...], size: int) -> bool:
    """Whether every value of *column* is the first one, of the same type (1 ==
    1.0 == True, but each is written as its own text)."""
    first = column[0]
    if column.count(first) != size:
        return False
    kind = first.__class__
    return kind is str or kind is bytes or len(set(map(type, column))) == 1


def _number(raw: bytes) -> int | float:
    """An int if it was written as one, else a float (as Python wrote it)."""
    try:
        return int(raw)
    except ValueError:
        return float(raw)


def _opt_float(raw: bytes | None) -> float | None:
    return None if raw is None else float(raw)


def decode_job(job_id: bytes | str, flat: Sequence[bytes] | None) -> JobRecord:
    """The JobRecord of a job hash, given as HGETALL's flat list (None: the key
    is not a hash); CorruptRecordError naming the first field that does not decode."""
    job_key = job_id.decode() if isinstance(job_id, bytes) else job_id
    record = None if flat is None else _sound_record(job_key, flat)
    if record is None:
        record, error = _read_hash(job_key, flat)
        if error is not None:
            raise error
    return record


def job_record(job_id: bytes | str, flat: Sequence[bytes] | None) -> JobRecord:
    """As :func:`decode_job`, but a hash that does not decode gives a record
    marked undecodable (see joblane.backends.decoding) instead of an error."""
    job_key = job_id.decode() if isinstance(job_id, bytes) else job_id
    record = None if flat is None else _sound_record(job_key, flat)
    return _read_hash(job_key, flat)[0] if record is None else record


def _expanded(flat: Sequence[bytes]) -> dict[bytes, bytes]:
    """The hash as a dict, its compact forms (keys.py) written out: ``g`` as
    the payload ``p``, ``e`` "=" as the created time (``to``: see _timeout)."""
    h = dict(zip(flat[::2], flat[1::2], strict=True))
    args = h.get(b"g")
    if args is not None and b"p" not in h:
        h[b"p"] = _ARGS_HEAD + args + _ARGS_TAIL
    if h.get(b"e") == _ENQUEUED_AS_CREATED:
        created = h.get(b"c")
        if created is None:
            del h[b"e"]
        else:
            h[b"e"] = created
    return h


def _sound_record(job_id: str, flat: Sequence[bytes]) -> JobRecord | None:
    """The record of a hash whose every field decodes (the hot path), else None."""
    h = _expanded(flat)
    status = _STATUSES.get(h.get(b"s", b""))
    if status is None:
        return None
    try:
        return _decode(job_id, status, h)
    except (ValueError, TypeError, KeyError):
        return None


def _decode(job_id: str, status: JobStatus, h: dict[bytes, bytes]) -> JobRecord:
    get = h.get
    timeout, ttl, worker = get(b"to"), get(b"tt"), get(b"w")
    last, lease, intervals = get(b"lr"), get(b"lt"), get(b"ri")
    meta, deps, by = get(b"m"), get(b"d"), get(b"by")
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
        job_timeout=_timeout(timeout),
        result_ttl=_whole(get(b"rt", b"%d" % DEFAULT_RESULT_TTL)),
        ttl=None if ttl is None else _whole(ttl),
        failure_ttl=_whole(get(b"ft", b"%d" % DEFAULT_FAILURE_TTL)),
        retries_left=int(get(b"rl", b"0")),
        retry_intervals=json_numbers(intervals) if intervals else (),
        attempts=int(get(b"a", b"0")),
        meta=json_object(meta) if meta else {},
        worker_name=None if worker is None else worker.decode(),
        result=get(b"r"),
        last_job_result=None if last is None else last.decode(),
        depends_on=split_ids(deps.decode()) if deps else (),
        at_front=get(b"af") == b"1",
        expires_at=_opt_float(get(b"x")),
        lease_token=None if lease is None else lease.decode(),
        lease_expires=_opt_float(get(b"le")),
        cancel_requested=get(b"cr") == b"1",
        lost_attempts=int(get(b"la", b"0")),
        enqueued_by=None if by is None else identity_from_json(by),
    )


def _read_hash(
    job_id: str, flat: Sequence[bytes] | None
) -> tuple[JobRecord, CorruptRecordError | None]:
    """The hash read field by field, to name the first that does not decode."""
    if flat is None:
        error = CorruptRecordError(job_id, None, "its key holds another type than a hash")
        return JobRecord(job_id, **SALVAGE_DEFAULTS, undecodable=str(error)), error
    if not flat:
        error = CorruptRecordError(job_id, None, "its hash is missing (a stale index entry)")
        return JobRecord(job_id, **SALVAGE_DEFAULTS, undecodable=str(error)), error
    h = _expanded(flat)
    return read_fields(job_id, ((name, read, h.get(key)) for name, key, read in _FIELDS))


def _required(read: Reader) -> Reader:
    def checked(raw: bytes | None) -> Any:
        if raw is None:
            raise ValueError("missing")
        return read(raw)

    return checked


def _defaulted(read: Reader, default: object) -> Reader:
    return lambda raw: default if raw is None else read(raw)


def _utf8(raw: bytes) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None


def _float(raw: bytes) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ValueError("not a number") from None


def _int_number(raw: bytes) -> int | float:
    try:
        return _number(raw)
    except ValueError:
        raise ValueError("not a number") from None


def _timeout(raw: bytes | None) -> int | float | None:
    """``to``: absent is DEFAULT_JOB_TIMEOUT, "" is no timeout (None)."""
    if raw is None:
        return DEFAULT_JOB_TIMEOUT
    if raw == _NO_TIMEOUT:
        return None
    return _int_number(raw)


def _whole(raw: bytes) -> int:
    """A number of seconds as an int (a float written for one is cut)."""
    value = _int_number(raw)
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return int(value)


def _int(raw: bytes) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError("not an integer") from None


def _status(raw: bytes) -> JobStatus:
    return status(raw.decode(errors="replace"))


_FIELDS: tuple[tuple[str, bytes, Reader], ...] = (
    ("queue", b"q", _required(_utf8)), ("func_name", b"f", _required(_utf8)),
    ("payload", b"p", _required(bytes)), ("status", b"s", _required(_status)),
    ("created", b"c", _required(_float)), ("enqueued", b"e", _defaulted(_float, None)),
    ("started", b"st", _defaulted(_float, None)), ("ended", b"en", _defaulted(_float, None)),
    ("scheduled", b"sc", _defaulted(_float, None)),
    ("job_timeout", b"to", _timeout),
    ("result_ttl", b"rt", _defaulted(_whole, DEFAULT_RESULT_TTL)),
    ("ttl", b"tt", _defaulted(_whole, None)),
    ("failure_ttl", b"ft", _defaulted(_whole, DEFAULT_FAILURE_TTL)),
    ("retries_left", b"rl", _defaulted(_int, 0)), ("retry_intervals", b"ri", json_numbers),
    ("attempts", b"a", _defaulted(_int, 0)), ("meta", b"m", json_object),
    ("worker_name", b"w", _defaulted(_utf8, None)), ("result", b"r", lambda raw: raw),
    ("last_job_result", b"lr", _defaulted(_utf8, None)),
    ("depends_on", b"d", lambda raw: split_ids(_utf8(raw)) if raw else ()),
    ("at_front", b"af", lambda raw: raw == b"1"), ("expires_at", b"x", _defaulted(_float, None)),
    ("lease_token", b"lt", _defaulted(_utf8, None)),
    ("lease_expires", b"le", _defaulted(_float, None)),
    ("cancel_requested", b"cr", lambda raw: raw == b"1"),
    ("lost_attempts", b"la", _defaulted(_int, 0)),
    ("enqueued_by", b"by", _defaulted(identity_from_json, None)),
)  # fmt: skip
"""Each JobRecord field after the id: its hash field (keys.py) and reader."""


def job_records(reply: Sequence[Any]) -> list[JobRecord]:
    """The jobs of a script reply laid out as id, hash, id, hash... (a hash is
    nil where the key is not a hash: see job_reply in _common.lua)."""
    return [job_record(reply[i], reply[i + 1]) for i in range(0, len(reply), 2)]


def _tagged(value: str | bytes | None) -> bytes:
    if value is None:
        return b""
    return _TAG + (value.encode() if isinstance(value, str) else value)


def _opt(value: float | None) -> Arg:
    return "" if value is None else value


def settlement_args(settlements: Sequence[Settlement], starts: Sequence[Start] = ()) -> list[Arg]:
    """The 14 arguments of each settlement, in settle_one's order, then the 3 of
    each start, in start_one's order (_common.lua), each list after its length."""
    out: list[Arg] = [len(settlements)]
    for s in settlements:
        out += (
            s.job_id, s.token, s.status.value, _opt(s.ended), _tagged(s.result),
            _tagged(s.last_job_result), s.retries_left, s.attempts, _opt(s.scheduled),
            _opt(s.enqueued), _opt(s.expires_at), _opt(s.started), s.lost_attempts,
            "1" if s.front else "0",
        )  # fmt: skip
    out.append(len(starts))
    for start in starts:
        out += (start.job_id, start.token, start.started)
    return out


def worker_json(info: WorkerInfo) -> bytes:
    return orjson.dumps(worker_fields(info))


def worker_info(raw: bytes | str) -> WorkerInfo:
    """The WorkerInfo of its JSON; ValueError if it does not decode."""
    data = orjson.loads(raw)
    if type(data) is not dict:
        raise ValueError("not the JSON of an object")
    return decoded_worker(data)
