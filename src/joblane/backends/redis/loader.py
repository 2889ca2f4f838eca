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
are filled in from Python, so there is one source for each; ``{{RULES}}``
becomes the tables of :func:`rule_tables`, from joblane.core.rules and
joblane.core.states, which the scripts read instead of deciding by themselves
(a changed rule changes the scripts' text, and so their SHA).

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
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import redis
import redis.asyncio as aredis

from joblane.backends.redis.keys import registry_name
from joblane.core import rules, states
from joblane.core.job import DEFAULT_FAILURE_TTL
from joblane.core.rules import Dependents
from joblane.core.states import JobStatus

NAMES = (
    "enqueue", "claim", "settle", "renew", "expired_leases", "promote_due", "purge_expired",
    "cancel", "requeue", "delete", "empty", "save_meta", "register_worker",
    "unregister_worker", "queue_names", "list_jobs", "claim_ticks",
)  # fmt: skip
CONSTANTS = {"DEFAULT_FAILURE_TTL": str(DEFAULT_FAILURE_TTL)}

_HASH_FIELDS = {"ended": "en", "started": "st", "scheduled": "sc", "enqueued": "e", "created": "c"}
"""The job hash's names (keys.py) of the fields a registry may be ordered by."""


def _lua(value: object) -> str:
    if isinstance(value, str):
        return '"' + value + '"'  # statuses and names: [a-z_] only
    if isinstance(value, dict):
        return "{ " + ", ".join(f"[{_lua(k)}] = {_lua(v)}" for k, v in value.items()) + " }"
    if isinstance(value, tuple | list):
        return "{ " + ", ".join(_lua(v) for v in value) + " }"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _set(statuses: Iterable[JobStatus]) -> dict[str, bool]:
    return {s.value: True for s in JobStatus if s in set(statuses)}


def rule_tables() -> str:
    """The Lua tables of the rules, as they are now (read at each call)."""
    parent_ended = {
        s.value: action.value for s in JobStatus if (action := rules.on_parent_ended(s)) is not None
    }
    tables: dict[str, object] = {
        "REGISTRY": {s.value: registry_name(r) for s, r in states.STATUS_REGISTRY.items()},
        "REGISTRIES": tuple(registry_name(r) for r in states.Registry),
        "LIVE": _set(states.LIVE_STATUSES),
        "CANCELABLE": _set(states.CANCELABLE_STATUSES),
        "REQUEUEABLE": _set(states.REQUEUEABLE_STATUSES),
        "PARENT_ENDED": parent_ended,
        "DEPENDENCY_DONE": rules.DEPENDENCY_DONE.value,
        "DEPENDENT_OF_FAILED": rules.DEPENDENT_OF_FAILED.value,
        "CANCELED": rules.CANCELED.value,
        "REGISTRY_TIME": tuple(_HASH_FIELDS[name] for name in rules.REGISTRY_TIME_FIELDS),
        "TTL_FROM_QUEUE_ENTRY": rules.TTL_FROM_QUEUE_ENTRY,
    }
    assert set(parent_ended.values()) <= {d.value for d in Dependents}
    return "\n".join(f"local {name} = {_lua(value)}" for name, value in tables.items())


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
    for key, value in {**CONSTANTS, "RULES": rule_tables()}.items():
        common = common.replace("{{" + key + "}}", value)
    source = f"{shebang}\n{common}\n{body}"
    sha = hashlib.sha1(source.encode()).hexdigest()
    return Script(name, source, sha, publishes="no-writes" not in shebang)


class Scripts:
    """Every script, by name; runs them on a client with EVALSHA."""

    def __init__(self) -> None:
        self.rules = rule_tables()
        self.by_name = {name: build(name) for name in NAMES}

    _current: Scripts | None = None

    @classmethod
    def current(cls) -> Scripts:
        """The scripts of the rules as they are now: built once, and again
        only if a rule changed since (a backend takes them when it opens)."""
        scripts = cls._current
        if scripts is None or scripts.rules != rule_tables():
            scripts = cls._current = cls()
        return scripts

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

    async def arun(self, client: aredis.Redis, name: str, args: list[Any]) -> Any:
        """:meth:`run` on an asyncio client: the same script, the same pipeline."""
        script = self.by_name[name]
        try:
            return await self._acall(client, script, args)
        except redis.exceptions.NoScriptError:
            await client.script_load(script.source)
            return await self._acall(client, script, args)

    async def _acall(self, client: aredis.Redis, script: Script, args: list[Any]) -> Any:
        if not script.publishes:
            return await client.evalsha(script.sha, 0, *args)
        pipe = client.pipeline(transaction=False)
        pipe.ping()
        pipe.evalsha(script.sha, 0, *args)
        return (await pipe.execute())[1]
