"""The statement files' loader that every SQL backend shares (joblane.backends.sql)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import LiteralString

import pytest

from joblane.backends.sql.loader import include, parse_blocks, typed

SOURCE = """-- The file's header.

-- fragment: columns
-- Two columns.
a, b

-- name: pick
-- Read them.
SELECT {columns} FROM t;
"""


@dataclass(frozen=True)
class Statements:
    pick: LiteralString


def test_blocks_are_split_described_and_included() -> None:
    blocks = parse_blocks(SOURCE)
    assert [(b.kind, b.name, b.description) for b in blocks] == [
        ("fragment", "columns", "Two columns."),
        ("name", "pick", "Read them."),
    ]
    fragments = {b.name: b.text for b in blocks if b.kind == "fragment"}
    assert include(blocks[1].text, fragments) == "SELECT a, b FROM t"


def test_a_block_without_a_description_is_refused() -> None:
    with pytest.raises(ValueError, match="'pick' needs a description and a body"):
        parse_blocks("-- name: pick\nSELECT 1;\n", "x.sql")


def test_the_statements_must_match_their_class() -> None:
    assert typed(Statements, {"pick": "SELECT 1"}, "x.sql") == Statements("SELECT 1")
    with pytest.raises(ValueError, match=r"x.sql does not match Statements: missing \['pick'\]"):
        typed(Statements, {"other": "SELECT 1"}, "x.sql")
