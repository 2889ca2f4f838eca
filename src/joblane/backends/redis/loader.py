"""The Lua scripts: one file per atomic operation in ``scripts/``, loaded once
as one Redis function library (Redis 7 functions).

Each ``scripts/<name>.lua`` starts with a ``#!lua`` line, which carries the
function's flags: ``#!lua flags=no-writes`` for the ones that only read,
``#!lua flags=allow-oom`` for the worker's transitions (they drain queues, so
they must run when Redis is out of memory), and a bare ``#!lua`` for enqueue,
enqueue_many and save_meta, which Redis then refuses to start when it is out of
memory.
``scripts/_common.lua`` holds the helpers (key names, placing a job in its
queue or registry, settling, releasing dependents). The library is
``_common.lua`` followed by one ``redis.register_function`` per script, whose
body is the script's own text: the helpers and the rule tables are made once,
when the library is loaded, not at each call (an EVALSHA of a script that
defines them costs about 10 us more per call). Constants shared with the core
(``{{NAME}}``) are filled in from Python, so there is one source for each;
``{{RULES}}`` becomes the tables of :func:`rule_tables`, from joblane.core.rules
and joblane.core.states, which the scripts read instead of deciding by
themselves.

The library's name (and each function's) carries the SHA-1 of its text, so
several versions of joblane can share one server, and a changed rule makes a
new library. It is loaded with FUNCTION LOAD when the backend connects (one
that is already there is kept) and called with FCALL; a "Function not found"
error (Redis restarted without persistence, or FUNCTION FLUSH) loads it again
and calls once more. A library of an older joblane stays on the server until
someone deletes it (``FUNCTION DELETE``); its text is about 40 KB.

A function that may change jobs (and so PUBLISH a change message) is sent as
``PING`` then ``FCALL`` in one pipeline, one round trip. Why: Redis writes its
pending replies newest client first, so the reply to a lone call can leave
before the change message it published reaches the subscribers, and a waiter
that checks right after the call returns (``wait_for_change(0)``, no round
trip) could miss it. With the PING, the caller is already waiting for a reply
when the function publishes, so the subscribers' messages are written first
(measured: 10 misses in 3,000 without, none with).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
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
    "enqueue", "enqueue_many", "claim", "settle", "renew", "expired_leases", "promote_due",
    "purge_expired", "cancel", "requeue", "delete", "empty", "save_meta", "register_worker",
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
    function: str
    """Its name in the library: ``joblane_<sha>_<name>``."""
    publishes: bool
    """May change jobs (its flags are not no-writes): see the module docstring."""


def _read(filename: str) -> str:
    return resources.files(__package__).joinpath("scripts", filename).read_text("utf-8")


def _flags(name: str, shebang: str) -> list[str]:
    if not shebang.startswith("#!lua"):
        raise ValueError(f"scripts/{name}.lua must start with a '#!lua' line")
    options = dict(part.split("=", 1) for part in shebang.split()[1:])
    flags = options.get("flags", "")
    return [flag for flag in flags.split(",") if flag]


def build_library() -> tuple[str, str, dict[str, Script]]:
    """The library's name, its text, and its scripts (NAMES) by name."""
    common = _read("_common.lua")
    for key, value in {**CONSTANTS, "RULES": rule_tables()}.items():
        common = common.replace("{{" + key + "}}", value)
    parts, flags_of = [common], {}
    for name in NAMES:
        shebang, _, body = _read(f"{name}.lua").partition("\n")
        flags_of[name] = flags = _flags(name, shebang)
        listed = ", ".join(f"'{flag}'" for flag in flags)
        parts.append(
            f"redis.register_function{{function_name = '{{{{LIB}}}}_{name}', "
            f"flags = {{ {listed} }}, callback = function(_, args)\nbegin(args)\n{body}\nend}}\n"
        )
    text = "\n".join(parts)
    library = "joblane_" + hashlib.sha1(text.encode()).hexdigest()[:16]
    text = f"#!lua name={library}\n" + text.replace("{{LIB}}", library)
    scripts = {
        name: Script(name, f"{library}_{name}", publishes="no-writes" not in flags)
        for name, flags in flags_of.items()
    }
    return library, text, scripts


_PING = b"*1\r\n$4\r\nPING\r\n"
_pack: Callable[[tuple[Any, ...]], bytes] | None
try:  # hiredis (joblane's redis extra) packs a command in C; redis-py's own way else
    from hiredis import pack_command as _pack
except ImportError:  # pragma: no cover - without the extra
    _pack = None
"""Packs exactly as redis-py does (floats as their repr), without its per-argument
Python pass."""


def _check_idle(lane: Any) -> None:
    """Drop *lane*'s socket if something came on it while it was idle (Redis
    closed it, or restarted): the call then connects anew, and a failure to
    connect is known not to have sent anything. Without this look (the one
    redis-py's pool makes at each check-out, a poll with no wait), a call on a
    socket that Redis closed meanwhile could not tell whether it ran."""
    if getattr(lane, "_sock", None) is None:
        return
    try:
        if lane.can_read(timeout=0):
            raise redis.exceptions.ConnectionError("data on an idle connection")
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError):
        lane.disconnect()


def _on_lane(lane: Any, script: Script, args: list[Any]) -> Any:
    """Send the call (after a PING if it publishes) and read its reply on *lane*.
    Every reply sent for is read before an error reply is raised, so the
    connection stays usable; any other failure disconnects it (redis-py does
    for socket errors; this covers the rest, e.g. KeyboardInterrupt)."""
    call = ("FCALL", script.function, 0, *args)
    packed = _pack(call) if _pack is not None else b"".join(lane.pack_command(*call))
    _check_idle(lane)
    try:
        if not script.publishes:
            lane.send_packed_command([packed], check_health=False)
            return lane.read_response()
        lane.send_packed_command([_PING + packed], check_health=False)
        try:
            lane.read_response()
        except redis.exceptions.ResponseError:
            lane.read_response()  # the call's own reply, or its error
            raise
        return lane.read_response()
    except redis.exceptions.ResponseError:
        raise
    except BaseException:
        lane.disconnect()
        raise


def _missing(exc: redis.exceptions.ResponseError) -> bool:
    return "function not found" in str(exc).lower()


def _already_loaded(exc: redis.exceptions.ResponseError) -> bool:
    return "already exists" in str(exc)


class Scripts:
    """Every script, by name, as functions of one library; calls them with FCALL."""

    def __init__(self) -> None:
        self.rules = rule_tables()
        self.library, self.source, self.by_name = build_library()

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
        """Load the library, unless the server has it already (one round trip)."""
        try:
            client.function_load(self.source)
        except redis.exceptions.ResponseError as exc:
            if not _already_loaded(exc):
                raise

    async def aload(self, client: aredis.Redis) -> None:
        try:
            await client.function_load(self.source)
        except redis.exceptions.ResponseError as exc:
            if not _already_loaded(exc):
                raise

    def run(
        self,
        client: redis.Redis,
        name: str,
        args: list[Any],
        lane: Any = None,
    ) -> Any:
        """FCALL script *name* with *args* (no keys: the scripts build their
        key names from the prefix, see keys.py), on the connection *lane* if
        given (Connection.lane), else through the client; loads the library
        when the server lost it."""
        script = self.by_name[name]
        try:
            return self._call(client, script, args, lane)
        except redis.exceptions.ResponseError as exc:
            if not _missing(exc):
                raise
            self.load(client)
            return self._call(client, script, args, lane)

    def _call(self, client: redis.Redis, script: Script, args: list[Any], lane: Any) -> Any:
        if lane is not None:
            return _on_lane(lane, script, args)
        if not script.publishes:
            return client.fcall(script.function, 0, *args)
        pipe = client.pipeline(transaction=False)
        pipe.ping()
        pipe.fcall(script.function, 0, *args)
        return pipe.execute()[1]

    async def arun(self, client: aredis.Redis, name: str, args: list[Any]) -> Any:
        """:meth:`run` on an asyncio client: the same function, the same pipeline."""
        script = self.by_name[name]
        try:
            return await self._acall(client, script, args)
        except redis.exceptions.ResponseError as exc:
            if not _missing(exc):
                raise
            await self.aload(client)
            return await self._acall(client, script, args)

    async def _acall(self, client: aredis.Redis, script: Script, args: list[Any]) -> Any:
        if not script.publishes:
            return await client.fcall(script.function, 0, *args)
        pipe = client.pipeline(transaction=False)
        pipe.ping()
        pipe.fcall(script.function, 0, *args)
        return (await pipe.execute())[1]
