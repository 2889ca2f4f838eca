"""Every example script in docs/examples runs, as the docs tell a reader to run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))

# What each script prints when it did its job (a script that exits 0 having
# skipped its work would still fail here).
EXPECTED = {
    "first_jobs.py": [
        "purge_cdn: finished",
        "requeued import_feed: finished",
        "worker exit status: 0",
    ],
    "immediate.py": ["finished {'purged': 'https://example.com/news/'}"],
    "test_myapp.py": ["ok test_a_scheduled_job_runs_when_due"],
}


def test_every_script_is_checked() -> None:
    assert sorted(p.name for p in SCRIPTS) == sorted(EXPECTED)


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_example_runs(script: Path, tmp_path: Path) -> None:
    env = dict(os.environ, JOBLANE_URL=f"sqlite:///{tmp_path / 'joblane.db'}")
    done = subprocess.run(
        [sys.executable, str(script.relative_to(ROOT))], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    for text in EXPECTED[script.name]:
        assert text in output, output
