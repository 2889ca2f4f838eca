"""Job statuses, the registries derived from them, and the allowed transitions.

::

                      ┌──────────── requeue ─────────────┐
                      ▼                                  │
    enqueue ──▶ queued ──claim──▶ started ──▶ finished    │
       │          ▲                  │  ├──▶ failed ──────┤
       │          │ due              │  ├──▶ stopped ─────┤ (cancel while started)
       ├──▶ scheduled ◀── retry ─────┘  └──▶ queued (shutdown, lease lost)
       │                                                 │
       └──▶ deferred ──deps finished──▶ queued            │
              └────── dep failed ─────▶ canceled ─────────┘

A registry (seed 000's vocabulary, after RQ) is a view over one or more
statuses of one queue; it owns no rules of its own.
"""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    QUEUED = "queued"
    SCHEDULED = "scheduled"
    DEFERRED = "deferred"
    STARTED = "started"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELED = "canceled"
    STOPPED = "stopped"


class Registry(StrEnum):
    """The six registries of a queue, in the order the monitoring API lists them."""

    STARTED = "started_job_registry"
    DEFERRED = "deferred_job_registry"
    CANCELED = "canceled_job_registry"
    FAILED = "failed_job_registry"
    FINISHED = "finished_job_registry"
    SCHEDULED = "scheduled_job_registry"


REGISTRY_STATUSES: dict[Registry, tuple[JobStatus, ...]] = {
    Registry.STARTED: (JobStatus.STARTED,),
    Registry.DEFERRED: (JobStatus.DEFERRED,),
    # A started job stopped by cancel() is a canceled job whose run was cut short.
    Registry.CANCELED: (JobStatus.CANCELED, JobStatus.STOPPED),
    Registry.FAILED: (JobStatus.FAILED,),
    Registry.FINISHED: (JobStatus.FINISHED,),
    Registry.SCHEDULED: (JobStatus.SCHEDULED,),
}

STATUS_REGISTRY: dict[JobStatus, Registry] = {
    status: registry for registry, statuses in REGISTRY_STATUSES.items() for status in statuses
}

LIVE_STATUSES = frozenset(
    {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED, JobStatus.STARTED}
)
"""A job in one of these may still run; its id cannot be reused."""

ENDED_STATUSES = frozenset(
    {JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELED, JobStatus.STOPPED}
)
"""A job in one of these will not run again unless requeued."""

DEPENDENCY_FAILED_STATUSES = frozenset({JobStatus.FAILED, JobStatus.CANCELED, JobStatus.STOPPED})
"""A dependency in one of these will never finish: its deferred dependents are canceled."""

REQUEUEABLE_STATUSES = frozenset({JobStatus.FAILED, JobStatus.CANCELED, JobStatus.STOPPED})

CANCELABLE_STATUSES = frozenset({JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED})
"""Cancel moves these to canceled at once; a started job is stopped by its worker."""


def registry_for(name: str) -> Registry:
    """The registry called *name* (``failed_job_registry`` or just ``failed``)."""
    key = name if name.endswith("_job_registry") else f"{name}_job_registry"
    try:
        return Registry(key)
    except ValueError:
        names = ", ".join(r.value for r in Registry)
        raise ValueError(f"unknown registry {name!r}; expected one of {names}") from None
