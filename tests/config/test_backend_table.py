"""Backends found by URL scheme: the built-in table and the ``joblane.backends``
entry-point group, through which another package adds a scheme."""

from __future__ import annotations

from pathlib import Path

import pytest

from joblane.backends.immediate import ImmediateBackend
from joblane.backends.memory import MemoryBackend
from joblane.backends.sqlite import SQLiteBackend
from joblane.config import BUILTIN_BACKENDS, backend_factory, backend_from_url
from joblane.errors import ConfigurationError

PLUGIN = """
from joblane.backends.memory import MemoryBackend


class PluginBackend(MemoryBackend):
    pass


def open_backend(url):
    return PluginBackend(url)
"""


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A distribution on sys.path, as an installed one is: a module and its
    dist-info, whose entry_points.txt adds the scheme ``myscheme``."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "joblane_myscheme.py").write_text(PLUGIN)
    info = site / "joblane_myscheme-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: joblane-myscheme\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[joblane.backends]\nmyscheme = joblane_myscheme:open_backend\n"
    )
    monkeypatch.syspath_prepend(str(site))
    return site


def test_builtin_schemes_open_their_backends(tmp_path: Path) -> None:
    sqlite = backend_from_url(f"sqlite:///{tmp_path}/a.db")
    assert isinstance(sqlite, SQLiteBackend)
    sqlite.close()
    assert isinstance(backend_from_url("memory://"), MemoryBackend)
    assert isinstance(backend_from_url("IMMEDIATE://"), ImmediateBackend)
    assert {"sqlite", "redis", "rediss", "unix", "memory", "immediate"} <= set(BUILTIN_BACKENDS)


def test_an_entry_point_adds_a_scheme(plugin: Path) -> None:
    backend = backend_from_url("myscheme://anything?x=1")
    assert type(backend).__name__ == "PluginBackend"
    assert backend.url == "myscheme://anything?x=1"


def test_an_unknown_scheme_names_the_known_ones(plugin: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        backend_from_url("nosuch://host/x")
    message = str(caught.value)
    assert "'nosuch'" in message
    for scheme in ("immediate", "memory", "myscheme", "redis", "sqlite"):
        assert scheme in message
    assert "joblane.backends" in message


def test_a_url_without_a_scheme_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="expected scheme://"):
        backend_from_url("/var/lib/jobs.db")


def test_an_entry_point_does_not_replace_a_builtin_scheme(plugin: Path, tmp_path: Path) -> None:
    info = plugin / "joblane_myscheme-1.0.dist-info" / "entry_points.txt"
    info.write_text("[joblane.backends]\nsqlite = joblane_myscheme:open_backend\n")
    factory = backend_factory("sqlite")
    assert factory.__module__ == "joblane.backends.sqlite"


def test_a_plugin_that_cannot_be_imported_is_a_configuration_error(
    plugin: Path,
) -> None:
    info = plugin / "joblane_myscheme-1.0.dist-info" / "entry_points.txt"
    info.write_text("[joblane.backends]\nbroken = joblane_missing_module:open_backend\n")
    with pytest.raises(ConfigurationError, match="the broken backend cannot be imported"):
        backend_from_url("broken://x")
