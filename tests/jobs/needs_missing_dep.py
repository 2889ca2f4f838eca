"""A job module whose own import fails: it needs a module that is not installed."""

from __future__ import annotations

import joblane_tests_no_such_dependency  # type: ignore[import-not-found]  # noqa: F401


def run() -> None:  # pragma: no cover - the module never finishes importing
    return None
