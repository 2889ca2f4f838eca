"""``--allow PREFIX`` allows what a name resolves to, not what it starts with.

The job module ``tests.jobs.reexports`` imports ``os``, ``subprocess`` and
``joblane`` and takes names from them, as an application's job module does.
Every refused name is given arguments that would leave a marker file behind
if the function ran.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

import tests.jobs.sample  # noqa: F401  # registers the @job functions, as a worker's --import
from joblane.core.outcome import Outcome, OutcomeKind
from joblane.core.serialization import encode_call
from joblane.tasks import AllowPolicy, FunctionNotAllowed, resolve
from joblane.worker.run import run_job

MODULE = "tests.jobs.reexports"
ALLOW_TESTS = AllowPolicy.from_prefixes(["tests.jobs"])


def call(*args: Any, **kwargs: Any) -> bytes:
    return encode_call(args, kwargs)


def touch_command(marker: Path) -> str:
    return f"touch {marker}"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        (f"{MODULE}.os.system", f"{MODULE}.os is the module os, not part of {MODULE}"),
        (
            f"{MODULE}.subprocess.getoutput",
            f"{MODULE}.subprocess is the module subprocess, not part of {MODULE}",
        ),
        (
            f"{MODULE}.joblane.config.os.system",
            f"{MODULE}.joblane is the module joblane, not part of {MODULE}",
        ),
        ("tests.jobs.sample.os.system", "tests.jobs.sample.os is the module os"),
        (f"{MODULE}.system", f"it is posix.system, defined outside {MODULE}"),
        (f"{MODULE}.getoutput", f"it is subprocess.getoutput, defined outside {MODULE}"),
        (f"{MODULE}.shell", f"it is posix.system, defined outside {MODULE}"),
        (f"{MODULE}.Greeter.run", f"it is posix.system, defined outside {MODULE}"),
        (f"{MODULE}.Path.touch", f"{MODULE}.Path is pathlib.Path, defined outside {MODULE}"),
    ],
)
def test_a_name_that_leaves_its_module_is_refused(name: str, reason: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    outcome = run_job(name, call(touch_command(marker)), ALLOW_TESTS)
    assert not marker.exists()
    assert outcome.kind is OutcomeKind.FAILED
    assert outcome.retryable is False
    error = outcome.error or ""
    assert error.startswith(f"FunctionNotAllowedError: {name!r} is not allowed in this worker: ")
    assert reason in error
    assert error.endswith(
        "--allow runs only functions defined in the modules under its prefixes"
    ), error


def test_a_method_of_an_instance_of_a_foreign_class_is_refused() -> None:
    name = f"{MODULE}.settings.read_text"
    error = run_job(name, call(), ALLOW_TESTS).error or ""
    assert re.search(
        rf"{re.escape(MODULE)}\.settings is a pathlib\.\w*Path object, defined outside", error
    ), error


@pytest.mark.parametrize(
    ("name", "args", "result"),
    [
        (f"{MODULE}.greet", ["you"], b'"hello you"'),
        (f"{MODULE}.Greeter.shout", ["you"], b'"HELLO you"'),
        (f"{MODULE}.Greeter.named", ["you"], b'"Greeter you"'),
        (f"{MODULE}.greeter.shout", ["you"], b'"HELLO you"'),
        ("tests.jobs.sample.not_marked", [7], b"7"),
    ],
)
def test_functions_defined_in_an_allowed_module_run(
    name: str, args: list[Any], result: bytes
) -> None:
    assert run_job(name, call(*args), ALLOW_TESTS) == Outcome.success(result)


def test_a_prefix_naming_one_function_allows_it_alone() -> None:
    policy = AllowPolicy.from_prefixes([f"{MODULE}.greet"])
    assert run_job(f"{MODULE}.greet", call("x"), policy) == Outcome.success(b'"hello x"')
    refused = run_job(f"{MODULE}.Greeter.shout", call("x"), policy).error or ""
    assert refused.startswith("FunctionNotAllowedError")


def test_registered_functions_stay_allowed_as_named() -> None:
    outcome = run_job("tests.jobs.sample.add", call(1, 2), AllowPolicy())
    assert outcome == Outcome.success(b"3")


def test_a_module_alias_in_sys_modules_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tests.jobs.os_alias", os)
    gave = r"importing tests\.jobs\.os_alias gave the module os"
    with pytest.raises(FunctionNotAllowed, match=gave):
        resolve("tests.jobs.os_alias.system", ALLOW_TESTS)


def test_resolve_without_a_policy_still_follows_any_name() -> None:
    """The caller's own process (``allow=None``) runs what it names, as before."""
    assert resolve(f"{MODULE}.os.getcwd") is os.getcwd
    assert resolve(f"{MODULE}.system") is os.system


def test_refused_by_name_before_any_import() -> None:
    with pytest.raises(FunctionNotAllowed, match=r"'os\.system' is not allowed in this worker \("):
        resolve("os.system", ALLOW_TESTS)


class Spy:
    """Records every attribute taken from it."""

    def __init__(self) -> None:
        self.taken: list[str] = []

    def __getattr__(self, attribute: str) -> Any:
        self.taken.append(attribute)
        return print


def test_nothing_is_taken_from_an_object_defined_elsewhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tests.jobs.reexports

    spy = Spy()
    monkeypatch.setattr(tests.jobs.reexports, "spy", spy, raising=False)
    with pytest.raises(FunctionNotAllowed, match=r"reexports\.spy is a tests\.unit\."):
        resolve(f"{MODULE}.spy.run", ALLOW_TESTS)
    assert spy.taken == []
