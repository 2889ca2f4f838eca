"""Where the instance and the worker find the backend (one table in
joblane.contrib.plone.config): the environment, zope.conf's product-config,
the registry record, seed 000's fallback for the instance only; and the Plone
worker's command line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from App.config import getConfiguration

from joblane.contrib.plone import config
from joblane.contrib.plone.testing import JOBLANE_INTEGRATION_TESTING
from joblane.contrib.plone.worker import main, worker_arguments
from joblane.errors import ConfigurationError
from tests.plone.conftest import layered


@pytest.fixture
def product_config() -> Iterator[dict[str, str]]:
    configuration = getConfiguration()
    previous = getattr(configuration, "product_config", None)
    section: dict[str, str] = {}
    configuration.product_config = {"joblane": section}
    yield section
    configuration.product_config = previous


def test_the_environment_comes_first_then_zope_conf(product_config: dict[str, str]) -> None:
    product_config["url"] = "redis://zope-conf:6379/0"
    both = {"JOBLANE_URL": "sqlite:///a.db", "PLONE_REDIS_DSN": "redis://dsn:6379/1"}
    assert config.instance_url(both) == config.worker_url(both) == "sqlite:///a.db"
    dsn = {"PLONE_REDIS_DSN": "redis://dsn:6379/1"}
    assert config.instance_url(dsn) == config.worker_url(dsn) == "redis://dsn:6379/1"
    assert config.instance_url({}) == config.worker_url({}) == "redis://zope-conf:6379/0"


def test_the_instance_falls_back_as_seed_000_says_and_the_worker_refuses(
    product_config: dict[str, str],
) -> None:
    assert config.instance_url({}) == "redis://localhost:6379/0"
    with pytest.raises(ConfigurationError, match=r"set PLONE_REDIS_DSN .* or JOBLANE_URL"):
        config.worker_url({})


@pytest.fixture
def integration() -> Iterator[Any]:
    yield from layered(JOBLANE_INTEGRATION_TESTING)


def test_the_registry_record_serves_the_instance_only(
    integration: Any, product_config: dict[str, str]
) -> None:
    from zope.component.hooks import setSite

    portal = integration["portal"]
    setSite(portal)
    portal.portal_registry["joblane.url"] = "redis://from-registry:6379/2"
    assert config.instance_url({}) == "redis://from-registry:6379/2"
    assert config.instance_url({"PLONE_REDIS_DSN": "redis://dsn/0"}) == "redis://dsn/0"
    with pytest.raises(ConfigurationError):
        config.worker_url({})


def test_the_worker_command_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = tmp_path / "zope.conf"
    conf.write_text("")
    monkeypatch.delenv("JOBLANE_URL", raising=False)
    monkeypatch.delenv("ZOPE_CONF", raising=False)
    monkeypatch.setenv("PLONE_REDIS_DSN", "redis://dsn:6379/0")
    args = worker_arguments(["--zope-conf", str(conf), "--burst"])
    assert args[:2] == ["--url", "redis://dsn:6379/0"]
    assert args[-1] == "--burst" and "--zope-conf" not in args
    assert "joblane.contrib.plone.site:restore" in args
    monkeypatch.setenv("ZOPE_CONF", str(tmp_path / "missing.conf"))
    assert main(["--burst"]) == 1
    assert "missing.conf" in capsys.readouterr().err
    monkeypatch.delenv("ZOPE_CONF")
    assert main(["--burst"]) == 1
    assert "set ZOPE_CONF or pass --zope-conf" in capsys.readouterr().err
