"""Job functions the Plone tests enqueue (importable by the worker processes)."""

from __future__ import annotations

from joblane.tasks import job


@job
def fails(n: int) -> None:
    raise ValueError(f"job {n} fails on purpose")


@job
def record(key: str) -> str:
    return key
