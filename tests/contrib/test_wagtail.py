"""A real Wagtail site (Wagtail from PyPI, the minimal project in
tests/contrib/wagtailsite copied to a temporary directory, its own SQLite
database) whose Django tasks run on joblane: publishing a page enqueues
Wagtail's own search-index task (modelsearch's ``insert_or_update_object_task``)
and returns with it only enqueued, Wagtail's search does not find the page
yet; a ``manage.py joblane_worker`` process runs the tasks, then the search
finds it. Every step is its own process, as on a real site. The cost is
Wagtail's migrations and five processes that import Wagtail (about 40 s)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("wagtail")

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SITE = Path(__file__).resolve().parent / "wagtailsite"


def run(here: Path, *args: str) -> Any:
    env = dict(os.environ, JOBLANE_TEST_DIR=str(here), DJANGO_SETTINGS_MODULE="site_settings",
               PYTHONPATH=os.pathsep.join([str(here), str(ROOT)]))  # fmt: skip
    done = subprocess.run([sys.executable, *args], cwd=here, env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_publishing_a_page_indexes_it_through_a_joblane_worker(tmp_path: Path) -> None:
    here = tmp_path / "site"
    shutil.copytree(SITE, here)
    run(here, "-m", "django", "makemigrations", "home", "-v", "0")
    run(here, "-m", "django", "migrate", "-v", "0")  # with the system checks

    # No worker runs: publishing returns, its tasks wait on joblane.
    queued = json.loads(run(here, "publish.py"))
    tasks = {task for _, task, _ in queued}
    assert "modelsearch.tasks.insert_or_update_object_task" in tasks
    ids = [job_id for job_id, _, _ in queued]
    assert json.loads(run(here, "search.py", "unicorn", *ids)) == [[], ["READY"] * len(ids)]

    run(here, "-m", "django", "joblane_worker", "--burst", "-c", "1", "-v", "0")

    found, statuses = json.loads(run(here, "search.py", "unicorn", *ids))
    assert found == ["Zebra crossing"]
    assert statuses == ["SUCCESSFUL"] * len(queued)
