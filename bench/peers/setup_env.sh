#!/usr/bin/env bash
# Create (idempotently) the virtualenv that runs the Huey peer of the SQLite benchmark.
# Huey is never a dependency of joblane: it lives only in bench/.venvs/huey.
#
# Usage: bash bench/peers/setup_env.sh        (from anywhere; paths are resolved from this file)
# Prints the venv's python path on success.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "${here}/../.." && pwd)"
venv="${repo_root}/bench/.venvs/huey"
py="${venv}/bin/python"

if [[ ! -x "${py}" ]]; then
    python3 -m venv "${venv}"
fi

# Skip pip entirely when both packages already import at a suitable version.
if ! "${py}" - <<'PY' 2>/dev/null
import sys
from importlib.metadata import version

import huey  # noqa: F401
import orjson  # noqa: F401

major, minor = (int(p) for p in version("huey").split(".")[:2])
sys.exit(0 if (major, minor) >= (2, 5) else 1)
PY
then
    log="$(mktemp)"
    trap 'rm -f "${log}"' EXIT
    # Keep pip's output (including config warnings) out of the way unless it fails.
    if ! "${py}" -m pip install --quiet --disable-pip-version-check 'huey>=2.5' orjson \
        >"${log}" 2>&1; then
        cat "${log}" >&2
        echo "setup_env.sh: pip install into ${venv} failed" >&2
        exit 1
    fi
fi

echo "${py}"
