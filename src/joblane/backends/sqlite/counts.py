"""The kept counts: how many jobs each queue holds in each state (``job_counts``).

Every write transaction that deletes or moves jobs, or stores jobs other than
queued ones, collects what it changed in a :class:`Counts`, from what it knows
anyway (the records it stores, the rows its statements return), and adds it at
its end: one upsert per (queue, state) whose count changed, not one per job,
and no trigger. The counts are in the same transaction as the rows, so they
commit or roll back with them. Reading a count is then one row, whatever the
queue's length.

Queued jobs are counted otherwise, so that an enqueue writes nothing but its
rows (a write to one more page costs an enqueue about a fifth more CPU): a job
enters its queue at a position the queue never used, next to its first or its
last, so the jobs that entered a queue are as many as the positions from its
first to its last. A transaction that takes jobs out of a queue adds how many
left (negative ``n``) and the lowest and highest positions they left from
(``low``, ``high``: the queue's ends once it is empty). ``count_queued`` in
queries.sql reads it.

A state is the ``registry`` column of schema.sql (a registry's first status),
or ``queued``. The migration to schema version 5 counts the jobs once; from
then on only joblane's writes keep the counts, so a row whose status is changed
behind joblane's back (by hand, by a bug) stays counted in its former state.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from joblane.backends.sqlite.queries import QUERIES
from joblane.core.states import JobStatus

QUEUED = "queued"

_STATE: dict[str, str] = {s.value: s.value for s in JobStatus} | {"stopped": "canceled"}
"""A status -> its state: as the generated ``registry`` column, or ``queued``.
A status this joblane does not know is its own state, as in that column."""


class Counts:
    """What one write transaction changes in ``job_counts``, added by :meth:`apply`."""

    __slots__ = ("_deltas", "_left")

    def __init__(self) -> None:
        self._deltas: dict[tuple[str, str], int] = {}
        self._left: dict[str, list[int]] = {}
        """Queue -> [how many left it, lowest position, highest position]."""

    def add(self, queue: str, status: str, n: int = 1) -> None:
        """*n* more jobs (fewer if negative) of *queue* in *status*. Nothing for
        ``queued``: a job that enters its queue is counted by its position, one
        that leaves it by :meth:`dequeued`."""
        state = _STATE.get(status, status)
        if state != QUEUED:
            key = (queue, state)
            self._deltas[key] = self._deltas.get(key, 0) + n

    def move(self, queue: str, old: str, new: str, n: int = 1) -> None:
        """*n* jobs of *queue* went from status *old* to *new*."""
        self.add(queue, old, -n)
        self.add(queue, new, n)

    def dequeued(self, queue: str, positions: Iterable[object]) -> None:
        """Jobs left *queue* from these positions (one each)."""
        found = [p for p in positions if type(p) is int]  # not an int: a row written by hand
        if found:
            self.dequeued_range(queue, len(found), min(found), max(found))

    def dequeued_range(self, queue: str, n: int, low: int, high: int) -> None:
        """*n* jobs left *queue*, from positions *low* to *high*."""
        left = self._left.get(queue)
        if left is None:
            self._left[queue] = [n, low, high]
        else:
            left[0] += n
            left[1] = min(left[1], low)
            left[2] = max(left[2], high)

    def apply(self, sqlite: sqlite3.Connection) -> None:
        """Add the changes to ``job_counts``, in the open transaction of *sqlite*."""
        rows: list[tuple[str, str, int, int | None, int | None]] = [
            (queue, state, n, None, None) for (queue, state), n in self._deltas.items() if n
        ]
        rows.extend((queue, QUEUED, -n, low, high) for queue, (n, low, high) in self._left.items())
        if len(rows) == 1:
            sqlite.execute(QUERIES.add_count, rows[0])
        elif rows:
            sqlite.executemany(QUERIES.add_count, rows)
        self._deltas.clear()
        self._left.clear()
