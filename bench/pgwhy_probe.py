# ruff: noqa: B905  (a throwaway measurement script; see bench/RESULTS.md)
"""Where joblane's time goes on PostgreSQL, beside pgqueuer's (bench/RESULTS.md, "Why joblane
is behind pgqueuer").  A measurement script, not a benchmark: bench/postgres.py's cluster with
pg_stat_statements (track=all, so the statements inside triggers count too), then each
system's bench/postgres.py run at a small job count, and per system: every statement's calls,
rows, server time and WAL bytes, the transactions committed, and the jobs table's indexes.

    python -m bench.pgwhy_probe --jobs 2000 [--only joblane]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import bench.postgres as bp

EXTRA = (
    "shared_preload_libraries=pg_stat_statements",
    "pg_stat_statements.track=all",
    "pg_stat_statements.max=5000",
    "track_functions=all",
    "track_io_timing=on",
)

STATS = """
SELECT calls, rows, round(total_exec_time::numeric, 1) AS total_ms,
       round(mean_exec_time::numeric, 4) AS mean_ms, wal_records, wal_fpi, wal_bytes,
       toplevel, left(regexp_replace(query, '\\s+', ' ', 'g'), 110) AS query
FROM pg_stat_statements
WHERE query NOT ILIKE '%pg_stat_statements%'
ORDER BY total_exec_time DESC LIMIT 25
"""


def snapshot(cluster: bp.Cluster, databases: list[str]) -> dict[str, Any]:
    import psycopg

    out: dict[str, Any] = {}
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        cols = [d.name for d in conn.execute(STATS).description or []]
        out["statements"] = [dict(zip(cols, r)) for r in conn.execute(STATS).fetchall()]
        wal = conn.execute("SELECT wal_records, wal_fpi, wal_bytes, wal_sync FROM pg_stat_wal")
        out["wal"] = dict(zip(("records", "fpi", "bytes", "sync"), wal.fetchone() or ()))
        out["xact"] = {d: conn.execute(
            "SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = %s",
            (d,)).fetchone() for d in databases}  # fmt: skip
    for d in databases:
        with psycopg.connect(cluster.dsn(d), autocommit=True) as conn:
            out[f"indexes:{d}"] = conn.execute(
                "SELECT tablename, indexname, indexdef FROM pg_indexes "
                "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
            ).fetchall()
            out[f"functions:{d}"] = conn.execute(
                "SELECT funcname, calls, total_time, self_time FROM pg_stat_user_functions"
            ).fetchall()
            out[f"triggers:{d}"] = conn.execute(
                "SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) FROM pg_trigger "
                "WHERE NOT tgisinternal"
            ).fetchall()
    return out


def reset(cluster: bp.Cluster) -> None:
    import psycopg

    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        conn.execute("SELECT pg_stat_statements_reset()")
        conn.execute("SELECT pg_stat_reset_shared('wal')")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--only", nargs="+", default=["joblane", "pgqueuer"])
    parser.add_argument("--out", type=Path, default=Path("/tmp/pgwhy-probe.json"))
    args = parser.parse_args()
    bp.SERVER_SETTINGS = (*bp.SERVER_SETTINGS, *EXTRA)
    bp.setup_venv = lambda peer: None  # the peer's venv is made already (bench/.venvs)
    workdir = (bp.BENCH / "results" / "pgwhy-work").resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {}
    with bp.postgres_cluster() as cluster:
        for system in args.only:
            reset(cluster)
            result = bp.run_system(system, cluster, args.jobs, args.samples, workdir)
            record[system] = {"result": result, **snapshot(cluster, [system])}
            print(json.dumps(record[system]["result"], default=str)[:600], file=sys.stderr)
    args.out.write_text(json.dumps(record, indent=1, default=str))
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
