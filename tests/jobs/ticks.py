"""Schedules for the real-process cron tests (``--schedules tests.jobs.ticks:NAME``)."""

from __future__ import annotations

from joblane import cron
from tests.jobs import sample

EVERY_SECOND = [
    cron(sample.add, second=None, args=(1, 1), queue="ticks", name="every-second", grace=5)
]
"""Each second's job waits in ``ticks``, a queue no test worker serves."""
