"""The wire format between a worker and its slot processes.

Each message is one length-prefixed frame of a socket pair
(``multiprocessing.connection``). Job ids never contain a NUL (their charset
is ``[A-Za-z0-9_-]``), so a frame that begins with a NUL is a control frame::

    worker -> slot   <job>                      run this job (see encode_job)
                     \\0 C <job id>              cancel this job (slots running
                                                several jobs at once)
                     \\0 W                       wait for a job handed to the worker
                                                (backends/base.py SlotHandOff)
                     \\0 U                       stop waiting
    slot -> worker   <job id> \\0 <outcome>      how the job ended (encode_outcome)
                     \\0 R                       on_startup done: ready for jobs
                     \\0 E <text>                on_startup failed: the slot exits
                     \\0 T <entry>               took this handed job: runs it now
                                                (if it decodes; its outcome follows)
                     \\0 F                       not waiting any more, took nothing

An outcome names its job, so a slot running several jobs at once may report
them in any order; a slot running one at a time reports them in order.
"""

from __future__ import annotations

import math
import os
import struct

import orjson

from joblane.core.identity import identity_from_data
from joblane.core.job import JobRecord
from joblane.core.outcome import Outcome, OutcomeKind
from joblane.worker.run import JobContext

_SEP = b"\x00"
_TIME = struct.Struct("<d")
"""The enqueue time, packed (NaN for none): text would cost a float repr per job."""

_LENGTH = struct.Struct("!i")
"""multiprocessing.connection's frame header: the length, big-endian; -1 means
an 8-byte length follows (frames of 2 GiB or more)."""
_LONG = struct.Struct("!Q")
READ_SIZE = 64 * 1024

READY = b"\0R"
"""A slot's on_startup hook returned: it takes jobs now."""
WAIT = b"\0W"
UNWAIT = b"\0U"
FREED = b"\0F"
TOOK = b"\0T"
"""Followed by the entry of the job handed (SlotHandOff.read)."""


def encode_job(job: JobRecord) -> bytes:
    """``id, queue, func_name, attempt, extra`` NUL-separated, a NUL, then the
    enqueue time (8 bytes) and the payload. *extra* is empty for a job without
    meta or identity (the usual one), else the JSON ``[meta, enqueued_by]``
    (JSON never holds a raw NUL)."""
    meta, by, enqueued = job.meta, job.enqueued_by, job.enqueued
    extra = b"" if not meta and by is None else orjson.dumps((meta, by and by.to_json()))
    return b"%s\0%s\0%s\0%d\0%s\0%s%s" % (
        job.id.encode(), job.queue.encode(), job.func_name.encode(), job.attempts, extra,
        _TIME.pack(math.nan if enqueued is None else enqueued), job.payload,
    )  # fmt: skip


def decode_job(frame: bytes) -> tuple[JobContext, bytes]:
    job_id, queue_name, func_name, attempt, extra, rest = frame.split(_SEP, 5)
    (enqueued,) = _TIME.unpack_from(rest)
    if extra:
        meta, by = orjson.loads(extra)
        identity = None if by is None else identity_from_data(by)
    else:
        meta, identity = {}, None
    context = JobContext(
        job_id.decode(), queue_name.decode(), func_name.decode(), int(attempt), meta,
        None if enqueued != enqueued else enqueued, identity,  # NaN: none
    )  # fmt: skip
    return context, rest[_TIME.size :]


def is_control(frame: bytes) -> bool:
    """A control frame (cancel, ready, startup failure), not a job or an outcome."""
    return frame[:1] == _SEP


def encode_cancel(job_id: str) -> bytes:
    return b"\0C" + job_id.encode()


def decode_cancel(frame: bytes) -> str | None:
    """The job id of a cancel frame, or None for another control frame."""
    return frame[2:].decode() if frame[:2] == b"\0C" else None


def encode_startup_failure(text: str) -> bytes:
    return b"\0E" + text.encode("utf-8", "replace")


def decode_startup(frame: bytes) -> str | None:
    """None if *frame* says the slot is ready, else the failure it reports."""
    if frame == READY:
        return None
    if frame[:2] == b"\0E":
        return frame[2:].decode("utf-8", "replace")
    return f"the slot sent {frame[:40]!r} before it was ready"


def encode_outcome(job_id: str, outcome: Outcome) -> bytes:
    """The job id, a NUL, then ``S`` and the result, ``R`` the delay (a double)
    and the reason, or ``F1``/``F0`` (retryable or not) and the reason."""
    head = job_id.encode() + _SEP
    if outcome.kind is OutcomeKind.SUCCEEDED:
        return head + b"S" + (outcome.result or b"null")
    if outcome.defer is not None:
        return head + b"R" + _TIME.pack(outcome.defer) + _text(outcome.error)
    return head + (b"F1" if outcome.retryable else b"F0") + _text(outcome.error)


def _text(error: str | None) -> bytes:
    return (error or "").encode("utf-8", "replace")


def decode_outcome(frame: bytes) -> tuple[str, Outcome]:
    job_id, _, body = frame.partition(_SEP)
    kind = body[:1]
    if kind == b"S":
        return job_id.decode(), Outcome.success(body[1:])
    if kind == b"R":
        (defer,) = _TIME.unpack_from(body, 1)
        reason = body[1 + _TIME.size :].decode("utf-8", "replace")
        return job_id.decode(), Outcome.retry_in(defer, reason)
    reason = body[2:].decode("utf-8", "replace")
    return job_id.decode(), Outcome.failure(reason, retryable=body[1:2] == b"1")


class FrameReader:
    """Reads the frames that ``Connection.send_bytes`` wrote to a socket, with
    one ``read`` for all that has arrived instead of two per frame (its header,
    then its bytes): a worker draining short jobs gets several outcomes, and a
    slot several jobs, per system call. Only whole frames are handed out; a
    partial one waits in the buffer for the next :meth:`read`. Once a reader is
    used on a socket, nothing else may read from it."""

    __slots__ = ("_buf", "_fd")

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buf = bytearray()

    def read(self) -> None:
        """One read of what has arrived (blocks until something does);
        EOFError when the other end closed."""
        data = os.read(self._fd, READ_SIZE)
        if not data:
            raise EOFError
        self._buf += data

    def take(self) -> bytes | None:
        """The next whole frame, or None if none is buffered."""
        buf = self._buf
        if len(buf) < 4:
            return None
        (size,) = _LENGTH.unpack_from(buf)
        start = 4
        if size == -1:
            if len(buf) < 12:
                return None
            (size,) = _LONG.unpack_from(buf, 4)
            start = 12
        end = start + size
        if len(buf) < end:
            return None
        frame = bytes(buf[start:end])
        del buf[:end]
        return frame

    def next(self) -> bytes:
        """The next frame, reading until one is whole."""
        while (frame := self.take()) is None:
            self.read()
        return frame
