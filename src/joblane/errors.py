"""Every exception joblane raises, in one place.

::

    JoblaneError
    ├── ConfigurationError            a bad URL, setting or option
    │   ├── SettingsError             a worker settings object (--settings) that cannot be used
    │   └── InvalidScheduleError (ValueError)  a cron schedule that cannot be read
    ├── InvalidJobError (ValueError)  bad input at enqueue time
    │   ├── InvalidJobIdError         a job id outside the safe charset or length
    │   ├── InvalidQueueNameError     a queue name outside the safe charset or length
    │   ├── InvalidFunctionError      a function that has no importable dotted path
    │   ├── PayloadTooLargeError      an encoded job over the size limit
    │   ├── IdentityError             an enqueuer's identity that cannot be captured or stored
    │   └── InvalidHttpTaskError      an HTTP task refused at add (URL outside the app, header)
    ├── SerializationError (TypeError) an argument or result that JSON cannot carry
    ├── DuplicateJobError             a live job already has that id
    ├── NoSuchJobError (KeyError)     no job with that id
    │   └── JobNotStoredError         enqueued in a transaction that has not committed yet
    ├── InvalidStateError             the operation does not fit the job's state
    ├── BackendError                  the backend failed (I/O, lock, connection)
    │   ├── CorruptRecordError        a stored job that cannot be decoded (names the field)
    │   ├── EnqueueOutcomeUnknownError  no reply: the jobs may or may not be stored
    │   └── SchemaVersionError        stored data of another version: run `joblane migrate`
    ├── WaitTimeoutError (TimeoutError) Job.wait() gave up
    ├── WorkerStartupError            a worker's on_startup hook failed in a slot
    ├── TaskRequestError              an HTTP task request that must not be trusted (401)
    │   └── ReplayedTaskRequestError  its nonce was seen already, or its time is out of the window
    ├── HttpTaskResponseError         raised by joblane.http.send: the request did not succeed
    │   ├── HttpTaskRetryableError    5xx, timeout, connection error: retried by the job's policy
    │   └── HttpTaskRefusedError      4xx, a redirect to another origin: failed at once
    └── RetryJob                      raised by a job: retry me (joblane.core.retry)

Errors recorded on jobs rather than raised (the text of ``last_job_result``)
are named in :mod:`joblane.core.outcome`: ``JobTimeoutError``,
``WorkerLostError``, ``FunctionNotAllowedError``, ``UnknownTaskError`` (a short
task name the worker has no function for), ``PayloadDecodeError``,
``IdentityError`` (the enqueuer's identity could not be restored),
``JobSignatureError`` (the job's arguments do not fit its function, e.g. one
taking ``ctx`` first that was not registered with ``takes_context=True``); a
job that a worker claimed but could not decode ends failed with the text of its
``CorruptRecordError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class JoblaneError(Exception):
    """Base class of every joblane error."""


class ConfigurationError(JoblaneError):
    """A URL, setting or option is invalid."""


class SettingsError(ConfigurationError):
    """Worker settings (``--settings``, :mod:`joblane.settings`) that cannot be
    loaded or used: the message names the setting and the source."""


class InvalidScheduleError(ConfigurationError, ValueError):
    """A cron schedule (``joblane.cron``) is invalid: the message names the
    field or expression, and why."""


class InvalidJobError(JoblaneError, ValueError):
    """A job was refused at enqueue because of its input."""


class InvalidJobIdError(InvalidJobError):
    """A job id is outside the documented charset or length."""


class InvalidQueueNameError(InvalidJobError):
    """A queue name is outside the documented charset or length."""


class InvalidFunctionError(InvalidJobError):
    """A function has no importable dotted path (a lambda, a closure, a method)."""


class PayloadTooLargeError(InvalidJobError):
    """The encoded job is over the configured size limit."""


class IdentityError(InvalidJobError):
    """The identity of the enqueuing user cannot be captured or stored (the
    message names the user and the reason); a restore hook raises it to fail
    an attempt without a retry (docs/how-to/identity.md)."""


class SerializationError(JoblaneError, TypeError):
    """A value that JSON cannot carry; the message names the value and its type."""


class DuplicateJobError(JoblaneError):
    """A live job (queued, scheduled, deferred or started) already has this id."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"a live job already has the id {job_id!r}")
        self.job_id = job_id


class NoSuchJobError(JoblaneError, KeyError):
    """No job has this id (never enqueued, expired or deleted)."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job with the id {job_id!r}")
        self.job_id = job_id

    def __str__(self) -> str:
        return str(self.args[0])


class JobNotStoredError(NoSuchJobError):
    """The job was enqueued in a transaction of this process that has not
    committed yet: it is stored at the commit, and never if the transaction aborts."""

    def __init__(self, job_id: str) -> None:
        super().__init__(job_id)
        self.args = (
            f"job {job_id!r} was enqueued in a transaction that has not committed yet: "
            "it is stored when the transaction commits",
        )


class InvalidStateError(JoblaneError):
    """The operation does not fit the job's current status (e.g. requeue a queued job)."""


class BackendError(JoblaneError):
    """The backend could not complete an operation; nothing was half-done."""


class CorruptRecordError(BackendError):
    """A stored job that this joblane cannot decode (written by another version,
    a bug or a hand edit). *field* is the JobRecord field that is wrong (or None
    when the whole record is), *detail* what is wrong with it."""

    def __init__(self, job_id: str, field: str | None, detail: str) -> None:
        where = f"field {field!r} of job {job_id!r}" if field else f"job {job_id!r}"
        super().__init__(f"{where}: {detail}")
        self.job_id = job_id
        self.field = field
        self.detail = detail


class EnqueueOutcomeUnknownError(BackendError):
    """An enqueue's reply was lost: its jobs (*job_ids*) may or may not be stored.

    Raised when the backend gave up after sending the jobs (a timeout, or a
    connection dropped, after the command went out). Enqueue them again with
    the same ids (``job_id=error.job_ids[0]``): the backend that raised this
    stores no second job and returns the one stored, whatever its status."""

    def __init__(self, job_ids: Sequence[str], detail: str) -> None:
        ids = list(dict.fromkeys(job_ids))
        named = ", ".join(repr(i) for i in ids[:3])
        if len(ids) > 3:
            named += f" and {len(ids) - 3} more"
        super().__init__(
            f"no reply to the enqueue of job(s) {named}: they may or may not be stored "
            f"({detail}); enqueue them again with the same job_id to make sure: none is "
            "stored twice"
        )
        self.job_ids = ids
        self.detail = detail

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.job_ids, self.detail))


class SchemaVersionError(BackendError):
    """The backend's stored data (SQLite schema, Redis key layout) is of a version
    this joblane does not use: *found*, where it uses *expected*. An older one is
    brought up to date by ``joblane migrate``; a newer one needs a newer joblane."""

    def __init__(self, where: str, found: int, expected: int) -> None:
        if found < expected:
            action = (
                f"run 'joblane migrate --url <this URL>' to bring it to version {expected} "
                "(see 'joblane migrate --help')"
            )
        else:
            action = "upgrade joblane to use it"
        super().__init__(
            f"{where} is at version {found}; this joblane uses version {expected}: {action}"
        )
        self.where = where
        self.found = found
        self.expected = expected

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.where, self.found, self.expected))


class WaitTimeoutError(JoblaneError, TimeoutError):
    """``Job.wait()`` timed out before the job ended."""


class WorkerStartupError(JoblaneError):
    """A worker's ``on_startup`` hook failed (raised, timed out, or its slot
    process died) in one of its slots: the message names the hook and the
    error. The worker stops rather than run slots that cannot serve; the jobs
    it held go back to their queues."""


class InvalidHttpTaskError(InvalidJobError):
    """An HTTP task (:func:`joblane.http.add`) refused at add: a URL outside the
    configured app (another host, a scheme other than http/https), a header
    name or value with a newline, a method other than GET/POST; the message
    names the part."""


class TaskRequestError(JoblaneError):
    """A request carrying HTTP-task headers that must not be trusted: a missing
    or bad signature, an unknown format. Verifiers answer it with 401, and the
    app never sees the request as its user. *reason* says what was wrong."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ReplayedTaskRequestError(TaskRequestError):
    """A correctly signed task request seen before within the validity window,
    or signed at a time outside it."""


class HttpTaskResponseError(JoblaneError):
    """An HTTP task's request did not succeed (raised by ``joblane.http.send``,
    recorded as the job's ``last_job_result``). *status* is the response's
    status, None when no response came."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.status))


class HttpTaskRetryableError(HttpTaskResponseError):
    """A 5xx response, a timeout or a connection error: the job's retry policy applies."""


class HttpTaskRefusedError(HttpTaskResponseError):
    """A 4xx response or a redirect to another origin: the job fails at once."""
