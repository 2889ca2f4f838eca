"""The spool: jobs of a committed transaction, on local disk until stored.

A transaction adapter (``joblane.contrib.transaction``) writes a committed
transaction's jobs here *before* it stores them, and removes the file once they
are stored. If the backend stays away, or the process dies in between, the file
stays, and a later commit in any process or a worker (a side task, at start and
every :data:`REPLAY_INTERVAL` seconds) replays it: jobs the backend has not got
are stored, the others are left alone, so a replay stores each job at most once.

One file per transaction, ``<time>-<pid>-<random>.jobs``, JSON::

    {"version": 1, "backend": "<backend_identity: its URL, no password>",
     "jobs": [{"unique": false, "record": {JobRecord fields}}, ...]}

Written under a temporary name and renamed, so a reader never sees half a file.
Its writer holds an exclusive ``flock`` on it until it removes or releases it;
a replayer takes the lock without waiting and skips a locked file, so it never
races the writer's own store. A file that cannot be read is renamed
``*.bad`` and logged: it costs only itself.

Where: :func:`spool_directory` (``JOBLANE_SPOOL_DIR``, else ``<file>.spool``
beside a SQLite backend's file; other backends need the variable).
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import time
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import orjson

from joblane.backends.base import Backend
from joblane.core.identity import identity_from_data
from joblane.core.job import JobRecord
from joblane.core.states import JobStatus
from joblane.errors import BackendError, JoblaneError

log = logging.getLogger("joblane.spool")

SPOOL_ENV = "JOBLANE_SPOOL_DIR"
REPLAY_INTERVAL = 5.0
"""Seconds between a worker's replays of the spool."""
VERSION = 1
_FIELDS = tuple(f.name for f in fields(JobRecord))


def spool_directory(backend: Backend) -> Path | None:
    """The spool of *backend*: ``$JOBLANE_SPOOL_DIR``, else ``<file>.spool`` next
    to a SQLite backend's file, else None (no spool)."""
    configured = os.environ.get(SPOOL_ENV)
    if configured:
        return Path(configured)
    path = getattr(backend, "path", None)
    if isinstance(path, str) and backend.url.startswith("sqlite:"):
        return Path(path + ".spool")
    return None


def backend_identity(backend: Backend) -> str:
    """Which backend a spool file is for: its URL, without a SQLite URL's options
    (a producer and a worker may open one file with different busy timeouts)."""
    url = backend.url
    return url.split("?", 1)[0] if url.startswith("sqlite:") else url


def _encode(record: JobRecord, unique: bool) -> dict[str, Any]:
    values = {name: getattr(record, name) for name in _FIELDS}
    values["payload"] = record.payload.decode()
    values["result"] = None if record.result is None else record.result.decode()
    by = record.enqueued_by
    values["enqueued_by"] = None if by is None else by.to_json()
    return {"unique": unique, "record": values}


def _decode(entry: dict[str, Any]) -> tuple[JobRecord, bool]:
    values = dict(entry["record"])
    values["payload"] = values["payload"].encode()
    if values.get("result") is not None:
        values["result"] = values["result"].encode()
    values["status"] = JobStatus(values["status"])
    values["retry_intervals"] = tuple(values["retry_intervals"])
    values["depends_on"] = tuple(values["depends_on"])
    by = values.get("enqueued_by")
    values["enqueued_by"] = None if by is None else identity_from_data(by)
    return JobRecord(**values), bool(entry["unique"])


class SpoolFile:
    """A written spool file, locked by its writer until :meth:`remove` (the jobs
    are stored) or :meth:`release` (they are not: a replay will store them)."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
        self.release()

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # and with it the lock
            self._fd = -1


def write(directory: Path, backend: Backend, jobs: Sequence[tuple[JobRecord, bool]]) -> SpoolFile:
    """Write *jobs* (record, unique) for *backend* durably, and keep the file locked."""
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns()}-{os.getpid()}-{secrets.token_hex(4)}"
    temporary, final = directory / f"{name}.tmp", directory / f"{name}.jobs"
    data = orjson.dumps(
        {
            "version": VERSION,
            "backend": backend_identity(backend),
            "jobs": [_encode(r, u) for r, u in jobs],
        }
    )
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, data)
        os.fsync(fd)
        os.rename(temporary, final)
        _sync_directory(directory)
    except BaseException:
        os.close(fd)
        temporary.unlink(missing_ok=True)
        raise
    return SpoolFile(final, fd)


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replay(backend: Backend, directory: Path | None) -> int:
    """Store the jobs of every unlocked spool file for *backend* in *directory*
    that the backend has not got; returns how many it stored. A backend error
    leaves the file for the next replay and is raised."""
    if directory is None or not directory.is_dir():
        return 0
    return sum(_replay_file(backend, path) for path in sorted(directory.glob("*.jobs")))


def _replay_file(backend: Backend, path: Path) -> int:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return 0  # replayed and removed by another process meanwhile
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0  # its writer is storing it, or another replayer is
        if os.fstat(fd).st_nlink == 0:
            return 0  # removed between our open and our lock
        jobs = _read(path, fd, backend)
        if jobs is None:
            return 0
        stored = _store_missing(backend, jobs)
        path.unlink(missing_ok=True)
        if stored:
            log.warning("spool: stored %d job(s) of a committed transaction from %s",
                        stored, path.name)  # fmt: skip
        return stored
    finally:
        os.close(fd)


def _read(path: Path, fd: int, backend: Backend) -> list[tuple[JobRecord, bool]] | None:
    """The jobs of the file, or None if they are another backend's or unreadable."""
    with os.fdopen(os.dup(fd), "rb") as handle:
        raw = handle.read()
    try:
        data = orjson.loads(raw)
        if data["version"] != VERSION:
            raise ValueError(f"version {data['version']!r}, not {VERSION}")
        if data["backend"] != backend_identity(backend):
            return None
        return [_decode(entry) for entry in data["jobs"]]
    except Exception as error:  # one bad file costs only itself
        bad = path.with_suffix(".bad")
        os.replace(path, bad)
        log.error("spool: cannot read %s (%s: %s); moved to %s",
                  path.name, type(error).__name__, error, bad.name)  # fmt: skip
        return None


def _store_missing(backend: Backend, jobs: list[tuple[JobRecord, bool]]) -> int:
    present = backend.get_many([record.id for record, _ in jobs])
    missing = [record for (record, _), got in zip(jobs, present, strict=True) if got is None]
    if not missing:
        return 0
    # unique: a job stored meanwhile under its id (the writer's own store came
    # through after all) is returned, not stored twice.
    try:
        backend.enqueue(missing, unique=True)
        return len(missing)
    except BackendError:
        raise
    except JoblaneError:
        return sum(_store_one(backend, record) for record in missing)


def _store_one(backend: Backend, record: JobRecord) -> int:
    """One job alone, after its batch was refused: a refused job costs only itself."""
    try:
        backend.enqueue([record], unique=True)
    except BackendError:
        raise
    except JoblaneError as error:
        log.error("spool: job %s %s refused: %s", record.id, record.func_name, error)
        return 0
    return 1
