"""Create (or bring up to date) the Plone test environment, ``.venv-plone/``.

Run by the README's test command before pytest; idempotent and cached in the
clone: the environment is rebuilt only when ``requirements.txt``,
``constraints.txt``, the dependencies of joblane and of the extras installed
(``[project]`` in ``pyproject.toml``; another extra or a tool's setting
there does not count) or
the Python version change (their fingerprint is kept in
``.venv-plone/joblane-env.txt``, written last, so an interrupted install is
redone). joblane itself is installed editable, so its code needs no rebuild.
Plone pins many packages, hence a venv of its own beside the project's
``.venv``; ``tests/test_plone_suite.py`` runs ``tests/plone`` in it. Needs
only the standard library::

    python3 tests/plone/make_env.py          # about 3 minutes the first time
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
import tomllib
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ENV = ROOT / ".venv-plone"
MARKER = ENV / "joblane-env.txt"
INPUTS = (HERE / "requirements.txt", HERE / "constraints.txt")
COMMAND = "python3 tests/plone/make_env.py"
EXTRAS = ("plone", "redis", "http")
"""joblane's extras installed in the environment."""


def fingerprint() -> str:
    """What the environment is built from: the inputs' digest and the Python version."""
    digest = hashlib.sha256(sys.version.split()[0].encode())
    for path in INPUTS:
        digest.update(path.read_bytes())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project.get("optional-dependencies", {})
    installed = [project.get("dependencies", []), *(extras.get(e, []) for e in EXTRAS)]
    digest.update(json.dumps(installed).encode())
    return digest.hexdigest()


def is_current() -> bool:
    """The environment exists and was built from the current inputs."""
    return MARKER.is_file() and MARKER.read_text().strip() == fingerprint()


def build() -> float:
    """(Re)create the environment; returns the seconds it took."""
    began = time.monotonic()
    if ENV.exists():
        shutil.rmtree(ENV)
    venv.create(ENV, with_pip=True)
    pip = [str(ENV / "bin" / "python"), "-m", "pip", "install", "-q"]
    constraints = ["-c", str(HERE / "constraints.txt")]
    subprocess.run(
        [
            *pip,
            *constraints,
            "-r",
            str(HERE / "requirements.txt"),
            "-e",
            f"{ROOT}[{','.join(EXTRAS)}]",
        ],
        check=True,
    )
    MARKER.write_text(fingerprint() + "\n")
    return time.monotonic() - began


def main() -> int:
    if is_current():
        print(f"Plone test environment up to date: {ENV}")
        return 0
    print(f"creating the Plone test environment in {ENV} (a few minutes)...", flush=True)
    seconds = build()
    print(f"Plone test environment ready in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
