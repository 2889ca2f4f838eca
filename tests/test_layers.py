"""The layers of docs/explanation/architecture.md: each package imports only what
the page says it may (read from the source, so a new import that breaks a layer
fails here, not in a review)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "joblane"

ALLOWED: dict[str, set[str]] = {
    "core": {"core", "errors", "types"},
    "errors": {"types"},
    "backends": {"backends", "core", "errors", "types", "config"},
    "tasks": {"core", "errors", "types"},
    "config": {"backends", "core", "errors", "types"},
    "identity": {"core", "errors", "types"},
    "building": {"core", "errors", "identity", "tasks", "types"},
    "client": {
        "aclient",
        "backends",
        "building",
        "config",
        "core",
        "errors",
        "identity",
        "pending",
        "tasks",
        "threads",
        "types",
    },
    # aclient.py: the async methods, mixins of client.py's Queue and Job (one layer).
    "aclient": {
        "backends",
        "building",
        "client",
        "config",
        "core",
        "errors",
        "pending",
        "threads",
        "types",
    },
    "pending": {"backends", "core", "errors", "types"},
    "threads": set(),
    "shortcuts": {"client", "core", "errors", "settings", "tasks"},
    "settings": {"core", "errors", "schedules", "tasks"},
    "schedules": {"building", "core", "errors", "tasks", "types"},
    "spool": {"backends", "config", "core", "errors", "types"},
    "worker": {
        "worker",
        "backends",
        "config",
        "core",
        "errors",
        "schedules",
        "spool",
        "tasks",
        "types",
    },
    # contrib/transaction, contrib/sqlalchemy and Django's on_commit adapter: over
    # pending.py, never the client. contrib/django's tasks backend and seed 002's
    # ``background`` are producers (client, building, config: they enqueue as app
    # code does), its management command runs a Worker, and its job functions are
    # ``@job``s reading ``current_job()`` (tasks, worker).
    "contrib": {
        "contrib",
        "backends",
        "building",
        "client",
        "config",
        "core",
        "errors",
        "identity",
        "pending",
        "spool",
        "tasks",
        "types",
        "worker",
    },
    # contrib/plone: an add-on for a whole application (its services answer through the
    # monitor's views, it enqueues through the client, its worker is `joblane worker`
    # with the Zope application loaded: it calls the CLI; its test layer starts a
    # worker thread; its HTTP tasks queue and verify through joblane.http).
    "contrib/plone": {
        "backends",
        "cli",
        "client",
        "config",
        "contrib",
        "core",
        "errors",
        "http",
        "identity",
        "monitor",
        "tasks",
        "types",
        "worker",
    },
    # http/: HTTP-request tasks over the client (add), a job function (send) and
    # framework-neutral verification with its ASGI / WSGI / Django adapters.
    "http": {"http", "client", "config", "core", "errors", "shortcuts", "tasks", "types", "worker"},
    "monitor": {"monitor", "backends", "config", "core", "errors", "client", "types"},
}
EXCEPTIONS = {
    # The immediate backend runs each job inline, as a worker would.
    ("backends/immediate.py", "worker"),
}


def joblane_imports(path: Path) -> set[str]:
    """The top-level joblane modules or packages *path* imports (``core``, ``client``...)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "joblane":
                names = [f"joblane.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found.update(n.split(".")[1] for n in names if n.startswith("joblane."))
    return found


def layer_files(layer: str) -> list[Path]:
    package = SRC / layer
    if not package.is_dir():
        return [SRC / f"{layer}.py"]
    # A sub-package with an entry of its own (contrib/plone) is held to that entry.
    own = [SRC / name for name in ALLOWED if "/" in name and name.startswith(layer + "/")]
    return sorted(p for p in package.rglob("*.py") if not any(o in p.parents for o in own))


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_each_layer_imports_only_the_layers_below_it(layer: str) -> None:
    wrong = [
        f"{path.relative_to(SRC)} imports joblane.{name}"
        for path in layer_files(layer)
        for name in sorted(joblane_imports(path))
        if name not in ALLOWED[layer] and (str(path.relative_to(SRC)), name) not in EXCEPTIONS
    ]
    assert wrong == []
