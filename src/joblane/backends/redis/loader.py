"""The Lua scripts: one file per atomic operation in ``scripts/``, loaded once.

Each ``scripts/<name>.lua`` starts with its shebang line, which carries the
script's flags (Redis 7): ``#!lua flags=no-writes`` for the ones that only
read, ``#!lua flags=allow-oom`` for the worker's transitions (they drain
queues, so they must run when Redis is out of memory), and a bare ``#!lua``
for enqueue and save_meta, which Redis then refuses to start when it is out
of memory. ``scripts/_common.lua`` holds the helpers (key names, placing a job
in its queue or registry, settling, releasing dependents); the loader puts it
between the shebang line and the script's own text, so each script stays
self-contained on the server. Constants shared with the core (``{{NAME}}``)
are filled in from Python, so there is one source for each.

Scripts are registered with SCRIPT LOAD when the backend connects and run
with EVALSHA; a NOSCRIPT error (Redis restarted, or SCRIPT FLUSH) loads the
script again and runs it once more.

A script that may change jobs (and so PUBLISH a change message) is sent as
``PING`` then ``EVALSHA`` in one pipeline, one round trip. Why: Redis writes
its pending replies newest client first, so the reply to a lone EVALSHA can
leave before the change message it published reaches the subscribers, and a
waiter that checks right after the call returns (``wait_for_change(0)``, no
round trip) could miss it. With the PING, the caller is already waiting for a
reply when the script publishes, so the subscribers' messages are written
first (measured: 10 misses in 3,000 without, none with).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from typing import Any

import redis

from joblane.core.job import DEFAULT_FAILURE_TTL

NAMES = (
    "enqueue", "claim", "settle", "renew", "expired_leases", "promote_due", "purge_expired",
    "cancel", "requeue", "delete", "empty", "save_meta", "register_worker",
    "unregister_worker", "queue_names", "list_jobs",
)  # fmt: skip
CONSTANTS = {"DEFAULT_FAILURE_TTL": str(DEFAULT_FAILURE_TTL)}


@dataclass(frozen=True, slots=True)
class Script:
    name: str
    source: str
    sha: str
    publishes: bool
    """May change jobs (its flags are not no-writes): see the module docstring."""


def _read(filename: str) -> str:
    return resources.files(__package__).joinpath("scripts", filename).read_text("utf-8")


def build(name: str) -> Script:
    """The full text of script *name*: its shebang, _common.lua, its own text."""
    own = _read(f"{name}.lua")
    shebang, sep, body = own.partition("\n")
    if not shebang.startswith("#!lua") or not sep:
        raise ValueError(f"scripts/{name}.lua must start with a '#!lua' line")
    common = _read("_common.lua")
    for key, value in CONSTANTS.items():
        common = common.replace("{{" + key + "}}", value)
    source = f"{shebang}\n{common}\n{body}"
    sha = hashlib.sha1(source.encode()).hexdigest()
    return Script(name, source, sha, publishes="no-writes" not in shebang)


class Scripts:
    """Every script, by name; runs them on a client with EVALSHA."""

    def __init__(self) -> None:
        self.by_name = {name: build(name) for name in NAMES}

    def load(self, client: redis.Redis) -> None:
        """Register every script with the server (one round trip)."""
        pipe = client.pipeline(transaction=False)
        for script in self.by_name.values():
            pipe.script_load(script.source)
        pipe.execute()

    def run(self, client: redis.Redis, name: str, args: list[Any]) -> Any:
        """EVALSHA script *name* with *args* (no KEYS: the scripts build their
        key names from the prefix, see keys.py); loads it on NOSCRIPT."""
        script = self.by_name[name]
        try:
            return self._call(client, script, args)
        except redis.exceptions.NoScriptError:
            client.script_load(script.source)
            return self._call(client, script, args)

    def _call(self, client: redis.Redis, script: Script, args: list[Any]) -> Any:
        if not script.publishes:
            return client.evalsha(script.sha, 0, *args)
        pipe = client.pipeline(transaction=False)
        pipe.ping()
        pipe.evalsha(script.sha, 0, *args)
        return pipe.execute()[1]
