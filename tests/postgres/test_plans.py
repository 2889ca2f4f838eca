"""Reads whose work must not grow with the number of jobs: the rows PostgreSQL
actually reads (EXPLAIN ANALYZE), counted on a table of a few hundred jobs, and
the OFFSET a deep page sends."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from psycopg import sql

from joblane.backends.postgres import PostgresBackend
from joblane.backends.postgres import backend as backend_module
from joblane.core.outcome import decide
from joblane.core.states import JobStatus, Registry
from joblane.testing import ManualClock
from tests.contract.helpers import SUCCESS, claim, drive_to, make_job

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


def test_a_page_near_the_end_of_a_long_list_is_read_from_the_end(
    pg: PostgresBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backend_module, "DEEP_PAGE", 100, raising=False)
    clock = ManualClock()
    pg.enqueue([make_job(clock, "normal") for _ in range(400)])
    taken = claim(pg, clock, ("normal",), limit=250)
    now = clock.now()
    pg.settle([decide(job, job.lease_token or "", SUCCESS, now) for job in taken], now)
    queued = [job.id for job in pg.list_queued("normal", 0, 1000)]
    finished = [job.id for job in pg.list_registry("normal", Registry.FINISHED, 0, 1000)]
    assert (len(queued), len(finished)) == (150, 250)

    offsets: list[int] = []
    execute = psycopg.Connection.execute

    def spy(self: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
        if isinstance(params, dict) and "start" in params:
            offsets.append(params["start"])
        return execute(self, query, params, **kwargs)

    monkeypatch.setattr(psycopg.Connection, "execute", spy)

    # the last pages: a backward scan that skips almost nothing
    assert [j.id for j in pg.list_queued("normal", 130, 50)] == queued[130:]
    assert [j.id for j in pg.list_registry("normal", Registry.FINISHED, 200, 50)] == finished[200:]
    assert [j.id for j in pg.list_registry("normal", Registry.FINISHED, 240, 5)] == finished[
        240:245
    ]
    assert max(offsets) <= 5, offsets
    # every other page is the same as read forwards
    for start, limit in [(0, 10), (99, 20), (110, 30), (145, 10), (150, 10), (600, 5), (120, 0)]:
        page = [j.id for j in pg.list_queued("normal", start, limit)]
        assert page == queued[start : start + limit], (start, limit)
        page = [j.id for j in pg.list_registry("normal", Registry.FINISHED, start, limit)]
        assert page == finished[start : start + limit], (start, limit)
