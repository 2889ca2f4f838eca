"""Reads whose work must not grow with the number of jobs: the rows PostgreSQL
actually reads (EXPLAIN ANALYZE), counted on a table of a few hundred jobs."""

from __future__ import annotations

import json
from typing import Any

from psycopg import sql

from joblane.backends.postgres import PostgresBackend
from joblane.core.states import JobStatus
from joblane.testing import ManualClock
from tests.contract.helpers import drive_to, make_job

JOBS = 600


def _rows_read(plan: dict[str, Any]) -> int:
    """Rows all scan nodes of *plan* returned, over all their loops."""
    own = 0
    if "Scan" in plan["Node Type"]:
        own = int(plan["Actual Rows"]) * int(plan["Actual Loops"])
    return own + sum(_rows_read(child) for child in plan.get("Plans", []))


def _analyze(pg: PostgresBackend, query: bytes | str) -> tuple[int, list[Any]]:
    def run(conn: Any) -> tuple[int, list[Any]]:
        conn.execute(sql.SQL("ANALYZE {}.jobs").format(sql.Identifier(pg.schema)))
        text = query.encode() if isinstance(query, str) else query
        (plan,) = conn.execute(b"EXPLAIN (ANALYZE, FORMAT JSON) " + text).fetchone()
        plan = plan if isinstance(plan, list) else json.loads(plan)
        return _rows_read(plan[0]["Plan"]), conn.execute(query).fetchall()

    result: tuple[int, list[Any]] = pg._db.run(run, "explaining")
    return result


def test_queue_names_seeks_each_queue_instead_of_reading_every_job(pg: PostgresBackend) -> None:
    clock = ManualClock()
    pg.enqueue([make_job(clock, "normal") for _ in range(JOBS // 2)])
    pg.enqueue([make_job(clock, "low") for _ in range(JOBS // 2)])
    drive_to(pg, clock, JobStatus.FINISHED, "done")
    drive_to(pg, clock, JobStatus.SCHEDULED, "later")

    read, rows = _analyze(pg, pg.q.queue_names)

    assert [row[0] for row in rows] == ["done", "later", "low", "normal"]
    assert pg.queue_names() == ["done", "later", "low", "normal"]
    assert read < 50, f"queue_names read {read} rows for {JOBS + 2} jobs"
