"""The typed loader of a SQL backend's statement files (``*.sql`` in its package).

Each file is a list of blocks::

    -- name: claim               a statement
    -- What it does (at least one comment line: every block is described).
    UPDATE jobs ...;

    -- fragment: job_columns     text that other blocks include as {job_columns}
    -- What it is.
    id, queue, ...

The text before the first block is the file's header. The files are part of
the package that holds them, so their text is as trusted as a literal in the
code: it is typed ``LiteralString``, and a backend builds its statements from
it (and integers) only. :func:`typed` makes the statements of a file the
fields of a backend's dataclass, checked against the file when it is loaded.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any, LiteralString, TypeVar

T = TypeVar("T")

_HEADER = re.compile(r"^-- (name|fragment): ([a-z0-9_]+)[ \t]*$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Block:
    kind: str
    name: str
    description: str
    text: LiteralString


def parse_blocks(source: str, filename: str = "<sql>") -> list[Block]:
    """Split *source* into its blocks. Raises ValueError for a block without a
    description or a body."""
    headers = list(_HEADER.finditer(source))
    blocks: list[Block] = []
    if not headers:
        return blocks  # a file of a header only (no migration yet)
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


def include(text: LiteralString, fragments: dict[str, LiteralString]) -> LiteralString:
    """*text* with each ``{name}`` of *fragments* replaced by the fragment."""
    for name, fragment in fragments.items():
        text = text.replace("{" + name + "}", fragment)
    return text


def load(package: str, filename: str) -> tuple[dict[str, LiteralString], dict[str, LiteralString]]:
    """The statements (fragments included) and the fragments of *filename* in
    *package*, by name, in file order. A fragment may include the fragments
    before it."""
    source = resources.files(package).joinpath(filename).read_text(encoding="utf-8")
    blocks = parse_blocks(source, filename)
    fragments: dict[str, LiteralString] = {}
    for block in blocks:
        if block.kind == "fragment":
            fragments[block.name] = include(block.text, fragments)
    statements = {b.name: include(b.text, fragments) for b in blocks if b.kind == "name"}
    return statements, fragments


def typed(cls: type[T], statements: dict[str, LiteralString], filename: str) -> T:
    """*statements* as the dataclass *cls*, one ``LiteralString`` field per
    statement; ValueError if the file and the class do not name the same ones."""
    expected = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    if set(statements) != expected:
        raise ValueError(
            f"{filename} does not match {cls.__name__}: missing "
            f"{sorted(expected - set(statements))}, unknown {sorted(set(statements) - expected)}"
        )
    fields: dict[str, Any] = statements
    return cls(**fields)
