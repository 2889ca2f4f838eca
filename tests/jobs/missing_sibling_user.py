"""A job module that imports a sibling that does not exist.

The missing module's name, ``tests.jobs.missing_sibling``, is a string prefix
of this module's name (but not a dotted parent of it).
"""

from __future__ import annotations

import tests.jobs.missing_sibling  # type: ignore[import-not-found]  # noqa: F401


def run() -> None:  # pragma: no cover - the module never finishes importing
    return None
