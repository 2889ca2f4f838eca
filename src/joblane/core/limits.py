"""The bounds of every duration, count and size a job may carry.

======================= ===================================== ==========================
Value                   Accepted                              Type
======================= ===================================== ==========================
``job_timeout``         0 < s <= MAX_DURATION, None or -1     int or float
``ttl``                 0 < s <= MAX_DURATION, or None        int (or a whole float)
``result_ttl``          0 <= s <= MAX_DURATION, or -1         int (or a whole float)
``failure_ttl``         0 <= s <= MAX_DURATION, or -1         int (or a whole float)
``Retry.max``           0 <= n <= MAX_RETRIES                 int
``Retry.interval``      0 <= s <= MAX_DURATION, each; at most int or float, or a list
                        MAX_RETRY_INTERVALS of them
a scheduled time        at most MAX_DURATION from now         (enqueue_at / enqueue_in)
======================= ===================================== ==========================

Beyond these, a stored time would fall outside what a datetime (year 9999), a
SQLite integer or a Redis expiry can hold, and later reads of the job would
fail; so they are refused at enqueue with an
:class:`~joblane.errors.InvalidJobError` naming the value.
"""

from __future__ import annotations

import math

from joblane.errors import InvalidJobError

MAX_DURATION = 10 * 365 * 24 * 3600
"""The longest TTL, timeout, retry interval or scheduling delay: 10 years, in seconds."""

MAX_RETRIES = 1_000_000
"""The most retries a job may have."""

MAX_RETRY_INTERVALS = 100
"""The longest list of retry intervals (the last one repeats)."""

DEFAULT_MAX_RESULT = 1024 * 1024
"""Bytes of an encoded return value kept as the job's result (``JOBLANE_MAX_RESULT``);
a larger one is replaced by a marker (:data:`RESULT_DROPPED`), the job still finished."""

RESULT_DROPPED = "result-dropped"
"""The marker's ``joblane`` value: ``{"joblane": "result-dropped", "reason": ..., "bytes": N}``."""


def seconds(name: str, value: object, *, whole: bool) -> int | float:
    """*value* if it is a number of seconds from -MAX_DURATION to MAX_DURATION
    (callers check the sign; -1 often means forever), as an int if *whole*.
    Raises InvalidJobError naming *name* otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidJobError(f"{name} must be a number of seconds, not {value!r}")
    # An int is compared as an int: a huge one would overflow float conversion.
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidJobError(f"{name} must be a finite number of seconds, not {value!r}")
    if abs(value) > MAX_DURATION:
        raise InvalidJobError(
            f"{name} must be at most {MAX_DURATION} seconds (10 years), not {_shown(value)}"
        )
    if whole and not isinstance(value, int):
        if not value.is_integer():
            raise InvalidJobError(f"{name} must be a whole number of seconds, not {value!r}")
        return int(value)
    return value


def _shown(value: float) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
