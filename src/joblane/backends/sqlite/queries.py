"""The SQL of the SQLite backend, loaded once from ``schema.sql`` and ``queries.sql``.

The files are lists of described blocks (``-- name: x`` statements, ``--
fragment: x`` included text), read by the loader every SQL backend shares
(:mod:`joblane.backends.sql.loader`); their text is typed ``LiteralString``.
The only SQL built at run time is the claim of several queues
(:func:`claim_statement`), from the ``claim`` and ``claim_queue`` blocks and
integers.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import LiteralString

from joblane.backends.sql.loader import include, load, typed


def _load(filename: str) -> tuple[dict[str, LiteralString], dict[str, LiteralString]]:
    return load(__package__ or "joblane.backends.sqlite", filename)


@dataclass(frozen=True, slots=True)
class Queries:
    """Every statement of queries.sql, by name (see the file for what each does)."""

    insert_job: LiteralString
    insert_plain_job: LiteralString
    insert_plain_batch: LiteralString
    claim: LiteralString
    claim_queue: LiteralString
    settle: LiteralString
    settle_returning: LiteralString
    mark_started: LiteralString
    linked_dependencies: LiteralString
    pop_dependents: LiteralString
    link_dependency: LiteralString
    forget_links: LiteralString
    release_dependent: LiteralString
    set_expiry: LiteralString
    cancel_deferred: LiteralString
    renew: LiteralString
    expired_leases: LiteralString
    due_jobs: LiteralString
    promote: LiteralString
    next_due: LiteralString
    any_expired: LiteralString
    purge_expired: LiteralString
    cancel_job: LiteralString
    request_cancel: LiteralString
    requeue: LiteralString
    delete_job: LiteralString
    queue_bounds: LiteralString
    empty_queue: LiteralString
    save_meta: LiteralString
    get_job: LiteralString
    get_jobs: LiteralString
    job_statuses: LiteralString
    queue_names: LiteralString
    count_queued: LiteralString
    list_queued: LiteralString
    count_registry: LiteralString
    list_registry: LiteralString
    add_count: LiteralString
    register_worker: LiteralString
    unregister_worker: LiteralString
    live_workers: LiteralString
    register_schedule: LiteralString
    last_tick: LiteralString
    claim_tick: LiteralString
    live_schedules: LiteralString


def load_queries() -> Queries:
    statements, fragments = _load("queries.sql")
    statements["claim_queue"] = include(fragments["claim_queue"], fragments)
    return typed(Queries, statements, "queries.sql")


def load_schema() -> tuple[LiteralString, ...]:
    """The statements of schema.sql, in order (each is idempotent: IF NOT EXISTS)."""
    statements, _ = _load("schema.sql")
    return tuple(statements.values())


def load_migrations() -> dict[int, LiteralString]:
    """The blocks of migrations.sql by the version they bring a file to."""
    statements, _ = _load("migrations.sql")
    return {int(name.removeprefix("to_")): text for name, text in statements.items()}


QUERIES = load_queries()
SCHEMA = load_schema()
MIGRATIONS = load_migrations()
SCHEMA_VERSION = max(MIGRATIONS)
"""Stored as ``PRAGMA user_version``; a file with a higher one is refused."""

_RANKS: tuple[LiteralString, ...] = tuple(str(i) for i in range(1000))


@lru_cache(maxsize=64)
def claim_statement(queue_count: int) -> LiteralString:
    """The claim of *queue_count* queues, in priority order; their names are
    bound as ?5, ?6, ... (at most 995 queues: SQLite's parameter limit)."""
    if not 1 <= queue_count <= len(_RANKS) - 5:
        raise ValueError(f"a claim takes 1 to {len(_RANKS) - 5} queues, not {queue_count}")
    parts = [
        QUERIES.claim_queue.replace("{rank}", _RANKS[i]).replace("{queue}", "?" + _RANKS[i + 5])
        for i in range(queue_count)
    ]
    return QUERIES.claim.replace("{claim_queues}", "\nUNION ALL\n".join(parts))
