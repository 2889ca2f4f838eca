"""joblane: background jobs for web applications and CMSs."""

from joblane.backends.base import (
    Backend,
    Capabilities,
    ReadOnlyBackend,
    ScheduleInfo,
    WorkerInfo,
)
from joblane.client import EnqueueData, Job, JobRegistry, PreparedJob, Queue
from joblane.config import backend_from_url
from joblane.core.job import JobOptions
from joblane.core.retry import Retry, RetryJob
from joblane.core.states import JobStatus, Registry
from joblane.errors import (
    BackendError,
    ConfigurationError,
    CorruptRecordError,
    DuplicateJobError,
    EnqueueOutcomeUnknownError,
    HttpTaskRefusedError,
    HttpTaskResponseError,
    HttpTaskRetryableError,
    IdentityError,
    InvalidFunctionError,
    InvalidHttpTaskError,
    InvalidJobError,
    InvalidJobIdError,
    InvalidQueueNameError,
    InvalidScheduleError,
    InvalidStateError,
    JoblaneError,
    JobNotStoredError,
    NoSuchJobError,
    PayloadTooLargeError,
    ReplayedTaskRequestError,
    SchemaVersionError,
    SerializationError,
    SettingsError,
    TaskRequestError,
    WaitTimeoutError,
    WorkerStartupError,
)
from joblane.identity import Identity, acting_as
from joblane.pending import atomic
from joblane.schedules import Schedule, cron
from joblane.settings import func
from joblane.shortcuts import aenqueue, configure, enqueue
from joblane.tasks import job, register
from joblane.worker.run import JobContext, current_job
from joblane.worker.worker import Worker, WorkerThread

__version__ = "0.1.0"

__all__ = [
    "Backend",
    "BackendError",
    "Capabilities",
    "ConfigurationError",
    "CorruptRecordError",
    "DuplicateJobError",
    "EnqueueData",
    "EnqueueOutcomeUnknownError",
    "HttpTaskRefusedError",
    "HttpTaskResponseError",
    "HttpTaskRetryableError",
    "Identity",
    "IdentityError",
    "InvalidFunctionError",
    "InvalidHttpTaskError",
    "InvalidJobError",
    "InvalidJobIdError",
    "InvalidQueueNameError",
    "InvalidScheduleError",
    "InvalidStateError",
    "Job",
    "JobContext",
    "JobNotStoredError",
    "JobOptions",
    "JobRegistry",
    "JobStatus",
    "JoblaneError",
    "NoSuchJobError",
    "PayloadTooLargeError",
    "PreparedJob",
    "Queue",
    "ReadOnlyBackend",
    "Registry",
    "ReplayedTaskRequestError",
    "Retry",
    "RetryJob",
    "Schedule",
    "ScheduleInfo",
    "SchemaVersionError",
    "SerializationError",
    "SettingsError",
    "TaskRequestError",
    "WaitTimeoutError",
    "Worker",
    "WorkerInfo",
    "WorkerStartupError",
    "WorkerThread",
    "__version__",
    "acting_as",
    "aenqueue",
    "atomic",
    "backend_from_url",
    "configure",
    "cron",
    "current_job",
    "enqueue",
    "func",
    "job",
    "register",
]
