"""The Plone tests: they run in the Plone environment (.venv-plone, made by
make_env.py) and are collected only there; the project's own suite runs them
through tests/test_plone_suite.py.

plone.testing layers are set up here for pytest (:func:`use_layer`): the
layers a test needs are set up once, bases first, and torn down when a test
needs another stack; each test gets every layer's testSetUp/testTearDown.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

try:
    import Products.CMFPlone  # noqa: F401
except ImportError:
    # The project's .venv: tests/test_plone_suite.py runs these in .venv-plone.
    collect_ignore_glob = ["test_*.py"]


def resolved(layer: Any) -> list[Any]:
    """*layer* and its bases, bases first, each once."""
    out: list[Any] = []

    def walk(item: Any) -> None:
        for base in item.__bases__:
            walk(base)
        if item not in out:
            out.append(item)

    walk(layer)
    return out


_active: list[Any] = []


def use_layer(layer: Any) -> list[Any]:
    """Make *layer*'s stack the set-up one (tearing down what it does not share)."""
    wanted = resolved(layer)
    while _active and _active[-1] not in wanted:
        _active.pop().tearDown()
    for item in wanted:
        if item not in _active:
            if hasattr(item, "setUpServer"):
                # plone.testing's WSGIServer keeps the port it was given last time,
                # which the stopped server may still hold: pick a free one again.
                item.host, item.port = type(item).host, type(item).port
            item.setUp()
            _active.append(item)
    return wanted


def finish_layers() -> None:
    while _active:
        _active.pop().tearDown()


@pytest.fixture(scope="session", autouse=True)
def _layers_torn_down() -> Iterator[None]:
    yield
    finish_layers()


def layered(layer: Any) -> Iterator[Any]:
    """A test inside *layer*: its stack set up, each layer's testSetUp around it."""
    stack = use_layer(layer)
    for item in stack:
        item.testSetUp()
    try:
        yield layer
    finally:
        for item in reversed(stack):
            item.testTearDown()
