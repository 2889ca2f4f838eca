"""The Plone suite (tests/plone), run in its own environment (.venv-plone).

Plone pins many packages, so its tests run in a virtual environment of their
own, which the README's test command makes with ``tests/plone/make_env.py``
before pytest. Without it this test skips, naming that command; under
``JOBLANE_REQUIRE_SERVERS=1`` (CI) it fails instead.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAKE_ENV = ROOT / "tests" / "plone" / "make_env.py"


def _make_env() -> object:
    spec = importlib.util.spec_from_file_location("plone_make_env", MAKE_ENV)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_the_plone_suite_passes_in_its_environment() -> None:
    env_module = _make_env()
    if not env_module.is_current():  # type: ignore[attr-defined]
        message = (
            "the Plone test environment (.venv-plone) is missing or out of date: "
            f"create it with `{env_module.COMMAND}`"  # type: ignore[attr-defined]
        )
        if os.environ.get("JOBLANE_REQUIRE_SERVERS") == "1":
            pytest.fail(f"{message} (JOBLANE_REQUIRE_SERVERS=1)")
        pytest.skip(message)
    python = ROOT / ".venv-plone" / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBLANE_URL")}
    run = subprocess.run(
        [str(python), "-m", "pytest", "tests/plone", "-q", "-p", "no:cacheprovider",
         "-o", "filterwarnings=ignore::DeprecationWarning", "--timeout", "300"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1400,
    )  # fmt: skip
    sys.stdout.write(run.stdout[-4000:])
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
