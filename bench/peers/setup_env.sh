#!/usr/bin/env bash
# Create (idempotently) the virtualenvs that run joblane's benchmark peers, one per peer under
# bench/.venvs/<peer>, each holding only that peer and what it needs. No peer is ever a
# dependency of joblane.
#
# Usage: bash bench/peers/setup_env.sh [PEER...]   (from anywhere; paths come from this file)
#        PEER: huey huey-hiredis rq arq saq dramatiq celery pgqueuer procrastinate; none given: all of them.
# Prints each venv's python path on success, one a line, in the order asked.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "${here}/../.." && pwd)"
all_peers=(huey huey-hiredis rq arq saq dramatiq celery pgqueuer procrastinate)

# What pip installs into each venv (the peer with its own Redis extra, if it has one).
# huey keeps orjson for huey_sqlite.py; the Redis scripts use the stdlib json module.
# saq imports typing_extensions without declaring it (saq 0.26.4), so it is named here.
# The PostgreSQL peers bring psycopg 3 for the harness (bench/peers/pg_common.py); pgqueuer
# runs on asyncpg, its first driver, which it does not require.
declare -A specs=(
    [huey]="huey>=2.5 orjson redis"
    [huey-hiredis]="huey>=2.5 orjson redis hiredis"
    [rq]="rq>=2.0"
    [arq]="arq>=0.26"
    [saq]="saq[redis]>=0.24 typing_extensions"
    [dramatiq]="dramatiq[redis]>=1.17"
    [celery]="celery[redis]>=5.4"
    [pgqueuer]="pgqueuer>=0.20 asyncpg>=0.29 psycopg[binary]>=3.1"
    [procrastinate]="procrastinate>=3.0 psycopg[binary]>=3.1"
)
# Modules that must import for the venv to count as ready (pip is skipped then).
declare -A modules=(
    [huey]="huey orjson redis"
    [huey-hiredis]="huey orjson redis hiredis"
    [rq]="rq redis"
    [arq]="arq redis"
    [saq]="saq redis"
    [dramatiq]="dramatiq redis"
    [celery]="celery kombu.transport.redis redis"
    [pgqueuer]="pgqueuer asyncpg psycopg"
    [procrastinate]="procrastinate psycopg"
)

setup_one() {
    local peer="$1"
    local venv="${repo_root}/bench/.venvs/${peer}"
    local py="${venv}/bin/python"
    if [[ ! -x "${py}" ]]; then
        python3 -m venv "${venv}"
    fi
    local check="import sys"
    local m
    for m in ${modules[${peer}]}; do
        check+="; import ${m}"
    done
    if ! "${py}" -c "${check}" >/dev/null 2>&1; then
        local log
        log="$(mktemp)"
        # Keep pip's output (including config warnings) out of the way unless it fails.
        # shellcheck disable=SC2086  # the specs are a word list on purpose
        if ! "${py}" -m pip install --quiet --disable-pip-version-check ${specs[${peer}]} \
            >"${log}" 2>&1; then
            cat "${log}" >&2
            rm -f "${log}"
            echo "setup_env.sh: pip install into ${venv} failed" >&2
            return 1
        fi
        rm -f "${log}"
        if ! "${py}" -c "${check}"; then
            echo "setup_env.sh: ${venv} still cannot import: ${modules[${peer}]}" >&2
            return 1
        fi
    fi
    echo "${py}"
}

peers=("$@")
if [[ ${#peers[@]} -eq 0 ]]; then
    peers=("${all_peers[@]}")
fi
for peer in "${peers[@]}"; do
    if [[ -z "${specs[${peer}]+x}" ]]; then
        echo "setup_env.sh: unknown peer '${peer}' (known: ${all_peers[*]})" >&2
        exit 2
    fi
    setup_one "${peer}"
done
