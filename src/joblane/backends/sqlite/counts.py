"""The kept counts: how many jobs each queue holds in each state (``job_counts``).

Every write transaction that stores, deletes or moves jobs collects what it
changed in a :class:`Counts`, from what it knows anyway (the records it
stores, the rows its statements return), and adds it at its end: one upsert
per (queue, state) whose count changed, not one per job, and no trigger. The
counts are in the same transaction as the rows, so they commit or roll back
with them. Reading a count is then one row, whatever the queue's length.

A state is the ``registry`` column of schema.sql (a registry's first status),
or ``queued``. The migration to schema version 5 counts the jobs once; from
then on only joblane's writes keep the counts, so a row whose status is changed
behind joblane's back (by hand, by a bug) stays counted in its former state.
"""

from __future__ import annotations

import sqlite3

from joblane.backends.sqlite.queries import QUERIES
from joblane.core.states import JobStatus

_STATE: dict[str, str] = {s.value: s.value for s in JobStatus} | {"stopped": "canceled"}
"""A status -> its state: as the generated ``registry`` column, or ``queued``.
A status this joblane does not know is its own state, as in that column."""


class Counts:
    """What one write transaction changes in ``job_counts``, added by :meth:`apply`."""

    __slots__ = ("_deltas",)

    def __init__(self) -> None:
        self._deltas: dict[tuple[str, str], int] = {}

    def add(self, queue: str, status: str, n: int = 1) -> None:
        """*n* more jobs (fewer if negative) of *queue* in *status*."""
        key = (queue, _STATE.get(status, status))
        self._deltas[key] = self._deltas.get(key, 0) + n

    def move(self, queue: str, old: str, new: str, n: int = 1) -> None:
        """*n* jobs of *queue* went from status *old* to *new*."""
        self.add(queue, old, -n)
        self.add(queue, new, n)

    def apply(self, sqlite: sqlite3.Connection) -> None:
        """Add the changes to ``job_counts``, in the open transaction of *sqlite*."""
        rows = [(queue, state, n) for (queue, state), n in self._deltas.items() if n]
        if len(rows) == 1:
            sqlite.execute(QUERIES.add_count, rows[0])
        elif rows:
            sqlite.executemany(QUERIES.add_count, rows)
        self._deltas.clear()
