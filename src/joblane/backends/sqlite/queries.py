"""The SQL of the SQLite backend, loaded once from ``schema.sql`` and ``queries.sql``.

Each file is a list of blocks::

    -- name: claim               a statement, an attribute of QUERIES
    -- What it does (at least one comment line: every block is described).
    UPDATE jobs ...;

    -- fragment: job_columns     text that other blocks include as {job_columns}
    -- What it is.
    id, queue, ...

The text is this package's own, so it is as trusted as a literal in the code:
it is typed ``LiteralString``. The only SQL built at run time is the claim of
several queues (:func:`claim_statement`), from the ``claim`` and ``claim_queue``
blocks and integers.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import LiteralString

_HEADER = re.compile(r"^-- (name|fragment): ([a-z0-9_]+)[ \t]*$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Block:
    kind: str
    name: str
    description: str
    text: LiteralString


def parse_blocks(source: str, filename: str = "<sql>") -> list[Block]:
    """Split *source* into its blocks; the text before the first one is the file's
    header. Raises ValueError for a block without a description or a body."""
    headers = list(_HEADER.finditer(source))
    blocks = []
    for header, following in zip(headers, [*headers[1:], None], strict=True):
        body = source[header.end() : following.start() if following else len(source)]
        lines = body.strip("\n").splitlines()
        described = 0
        while described < len(lines) and lines[described].startswith("--"):
            described += 1
        description = " ".join(line[2:].strip() for line in lines[:described])
        text = "\n".join(lines[described:]).strip().rstrip(";").strip()
        kind, name = header.group(1), header.group(2)
        if not description or not text:
            raise ValueError(f"{filename}: block {name!r} needs a description and a body")
        # The files are part of this package: their text is as trusted as a
        # literal. (mypy takes LiteralString for str; a type checker that does
        # not would need a cast here.)
        blocks.append(Block(kind, name, description, text))
    return blocks


def _include(text: LiteralString, fragments: dict[str, LiteralString]) -> LiteralString:
    for name, fragment in fragments.items():
        text = text.replace("{" + name + "}", fragment)
    return text


def _load(filename: str) -> tuple[dict[str, LiteralString], dict[str, LiteralString]]:
    source = resources.files(__package__).joinpath(filename).read_text(encoding="utf-8")
    blocks = parse_blocks(source, filename)
    fragments = {b.name: b.text for b in blocks if b.kind == "fragment"}
    statements = {b.name: _include(b.text, fragments) for b in blocks if b.kind == "name"}
    return statements, fragments


@dataclass(frozen=True, slots=True)
class Queries:
    """Every statement of queries.sql, by name (see the file for what each does)."""

    insert_job: LiteralString
    insert_plain_job: LiteralString
    insert_plain_batch: LiteralString
    claim: LiteralString
    claim_queue: LiteralString
    settle: LiteralString
    mark_started: LiteralString
    linked_dependencies: LiteralString
    pop_dependents: LiteralString
    link_dependency: LiteralString
    forget_links: LiteralString
    release_dependent: LiteralString
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
    empty_queue: LiteralString
    save_meta: LiteralString
    get_job: LiteralString
    get_jobs: LiteralString
    job_status: LiteralString
    job_statuses: LiteralString
    queue_names: LiteralString
    count_queued: LiteralString
    list_queued: LiteralString
    count_registry: LiteralString
    list_registry: LiteralString
    register_worker: LiteralString
    unregister_worker: LiteralString
    live_workers: LiteralString


def load_queries() -> Queries:
    statements, fragments = _load("queries.sql")
    statements["claim_queue"] = _include(fragments["claim_queue"], fragments)
    expected = {f.name for f in dataclasses.fields(Queries)}
    if set(statements) != expected:
        raise ValueError(
            f"queries.sql does not match Queries: missing {sorted(expected - set(statements))}, "
            f"unknown {sorted(set(statements) - expected)}"
        )
    return Queries(**statements)


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
