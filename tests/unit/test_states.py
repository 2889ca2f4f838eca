"""Job statuses, registries and their mapping (joblane.core.states)."""

from __future__ import annotations

import pytest

from joblane.core.states import (
    CANCELABLE_STATUSES,
    DEPENDENCY_FAILED_STATUSES,
    ENDED_STATUSES,
    LIVE_STATUSES,
    REGISTRY_STATUSES,
    REQUEUEABLE_STATUSES,
    STATUS_REGISTRY,
    JobStatus,
    Registry,
    registry_for,
)


def test_status_values_are_the_documented_strings() -> None:
    assert [s.value for s in JobStatus] == [
        "queued",
        "scheduled",
        "deferred",
        "started",
        "finished",
        "failed",
        "canceled",
        "stopped",
    ]


def test_registries_are_listed_in_monitoring_order() -> None:
    assert [r.value for r in Registry] == [
        "started_job_registry",
        "deferred_job_registry",
        "canceled_job_registry",
        "failed_job_registry",
        "finished_job_registry",
        "scheduled_job_registry",
    ]


@pytest.mark.parametrize(
    ("status", "registry"),
    [
        (JobStatus.STARTED, Registry.STARTED),
        (JobStatus.DEFERRED, Registry.DEFERRED),
        (JobStatus.CANCELED, Registry.CANCELED),
        (JobStatus.STOPPED, Registry.CANCELED),
        (JobStatus.FAILED, Registry.FAILED),
        (JobStatus.FINISHED, Registry.FINISHED),
        (JobStatus.SCHEDULED, Registry.SCHEDULED),
    ],
)
def test_status_registry_mapping(status: JobStatus, registry: Registry) -> None:
    assert STATUS_REGISTRY[status] is registry
    assert status in REGISTRY_STATUSES[registry]


def test_queued_jobs_are_in_no_registry() -> None:
    assert JobStatus.QUEUED not in STATUS_REGISTRY
    assert all(JobStatus.QUEUED not in s for s in REGISTRY_STATUSES.values())


def test_every_other_status_is_in_exactly_one_registry() -> None:
    for status in JobStatus:
        owners = [r for r, statuses in REGISTRY_STATUSES.items() if status in statuses]
        assert len(owners) == (0 if status is JobStatus.QUEUED else 1), status


def test_live_and_ended_statuses_partition_all_statuses() -> None:
    assert set(JobStatus) == LIVE_STATUSES | ENDED_STATUSES
    assert not LIVE_STATUSES & ENDED_STATUSES
    assert {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED, JobStatus.STARTED} == (
        LIVE_STATUSES
    )


def test_transition_sets() -> None:
    assert {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED} == CANCELABLE_STATUSES
    assert {JobStatus.FAILED, JobStatus.CANCELED, JobStatus.STOPPED} == REQUEUEABLE_STATUSES
    assert {
        JobStatus.FAILED,
        JobStatus.CANCELED,
        JobStatus.STOPPED,
    } == DEPENDENCY_FAILED_STATUSES
    # A started job is stopped by its worker, not canceled on the spot.
    assert JobStatus.STARTED not in CANCELABLE_STATUSES
    assert JobStatus.FINISHED not in REQUEUEABLE_STATUSES


@pytest.mark.parametrize("registry", list(Registry))
def test_registry_for_accepts_full_and_short_names(registry: Registry) -> None:
    short = registry.value.removesuffix("_job_registry")
    assert registry_for(registry.value) is registry
    assert registry_for(short) is registry


@pytest.mark.parametrize("name", ["queued", "queued_job_registry", "", "FAILED", "fail", "x_y"])
def test_registry_for_unknown_name(name: str) -> None:
    with pytest.raises(ValueError, match="unknown registry") as info:
        registry_for(name)
    assert repr(name) in str(info.value)
    assert "failed_job_registry" in str(info.value)  # lists the valid names
