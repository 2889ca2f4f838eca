"""A job module that must never be imported: importing it raises.

Tests name ``tests.jobs.explodes_on_import.never`` to prove that a worker
refuses a function it does not allow without importing its module.
"""

from __future__ import annotations


def never() -> None:  # pragma: no cover - the module never finishes importing
    return None


raise RuntimeError("tests.jobs.explodes_on_import was imported")
