"""Function names, resolution and the allow policy (joblane.tasks)."""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable
from typing import Any

import pytest

import tests.jobs.sample as sample
from joblane import tasks
from joblane.core.job import JobOptions
from joblane.core.retry import Retry
from joblane.errors import InvalidFunctionError, InvalidJobError
from joblane.tasks import AllowPolicy, defaults_for, function_name, job, registered, resolve


def module_level(x: int) -> int:
    return x


class Holder:
    def method(self) -> None:
        return None

    @staticmethod
    def static() -> str:
        return "static"

    @classmethod
    def klass(cls) -> None:
        return None


# -- function_name -----------------------------------------------------------------


def test_module_function() -> None:
    assert function_name(module_level) == "tests.unit.test_tasks.module_level"
    assert function_name(sample.add) == "tests.jobs.sample.add"


def test_function_defined_in_a_class_body() -> None:
    assert function_name(Holder.static) == "tests.unit.test_tasks.Holder.static"


def test_lambda_is_refused() -> None:
    with pytest.raises(InvalidFunctionError, match=r"<lambda>.*define it at module level"):
        function_name(lambda: None)


def test_nested_function_is_refused() -> None:
    def inner() -> None:
        return None

    with pytest.raises(InvalidFunctionError) as info:
        function_name(inner)
    assert "test_nested_function_is_refused.<locals>.inner" in str(info.value)
    assert "cannot be imported by a worker" in str(info.value)


@pytest.mark.parametrize("bound", [Holder().method, Holder.klass], ids=["method", "classmethod"])
def test_bound_method_is_refused(bound: Callable[..., Any]) -> None:
    with pytest.raises(InvalidFunctionError, match="is a bound method"):
        function_name(bound)


@pytest.mark.parametrize(
    "thing", [functools.partial(module_level, 1), 42, None, Holder()], ids=repr
)
def test_not_an_importable_function(thing: Any) -> None:
    with pytest.raises(InvalidFunctionError, match="not a function with an importable name"):
        function_name(thing)


def test_main_module_function() -> None:
    def main_func() -> None:
        return None

    main_func.__module__ = "__main__"
    main_func.__qualname__ = "main_func"
    with pytest.raises(InvalidFunctionError, match=r"__main__\.main_func cannot be imported"):
        function_name(main_func)
    assert function_name(main_func, allow_main=True) == "__main__.main_func"


def test_invalid_function_error_is_an_invalid_job_error() -> None:
    assert issubclass(InvalidFunctionError, InvalidJobError)


@pytest.mark.parametrize(
    "name", ["pkg.func", "a.b.c.d", "tests.jobs.sample.add", "_p._f", "Mod.Class.method"]
)
def test_valid_dotted_strings_are_kept(name: str) -> None:
    assert function_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "fu nc", ".func", "pkg.", "pkg..func", "pkg.1func", "pkg.my-func", "pkg.f()", "a b.c"],
)
def test_invalid_strings(name: str) -> None:
    with pytest.raises(InvalidFunctionError, match="expected a dotted path") as info:
        function_name(name)
    assert repr(name) in str(info.value)


# -- resolve -------------------------------------------------------------------------


def test_resolve_module_function() -> None:
    assert resolve("tests.jobs.sample.add") is sample.add


def test_resolve_function_in_a_class() -> None:
    assert resolve("tests.unit.test_tasks.Holder.static")() == "static"


def test_resolve_missing_module() -> None:
    name = "joblane_no_such_pkg.mod.f"
    with pytest.raises(ImportError, match=re.escape(f"no module found for {name!r}")):
        resolve(name)


def test_resolve_missing_attribute() -> None:
    with pytest.raises(AttributeError, match="no_such_func"):
        resolve("tests.jobs.sample.no_such_func")


def test_resolve_not_callable() -> None:
    with pytest.raises(TypeError, match=r"tests\.jobs\.sample\.__doc__ is not callable"):
        resolve("tests.jobs.sample.__doc__")


def test_resolve_surfaces_the_import_error_of_the_module_itself() -> None:
    with pytest.raises(ModuleNotFoundError) as info:
        resolve("tests.jobs.needs_missing_dep.run")
    assert info.value.name == "joblane_tests_no_such_dependency"
    assert "no module found" not in str(info.value)
    assert "tests.jobs.needs_missing_dep" not in sys.modules


def test_resolve_surfaces_other_errors_raised_at_import() -> None:
    with pytest.raises(RuntimeError, match="explodes_on_import was imported"):
        resolve("tests.jobs.explodes_on_import.never")


def test_resolve_missing_dependency_named_like_a_prefix_of_the_module() -> None:
    with pytest.raises(ModuleNotFoundError) as info:
        resolve("tests.jobs.missing_sibling_user.run")
    assert info.value.name == "tests.jobs.missing_sibling"


# -- @job and the allow policy -------------------------------------------------------------


@pytest.fixture
def isolated_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Functions marked inside a test stay out of the process-wide registry."""
    monkeypatch.setattr(tasks, "_REGISTRY", dict(tasks._REGISTRY))


@pytest.mark.usefixtures("isolated_registry")
def test_job_marks_and_returns_the_function_unchanged() -> None:
    def plain(x: int) -> int:
        return x + 1

    plain.__qualname__ = "plain_marked_in_test"
    marked = job(plain)
    assert marked is plain
    assert marked(1) == 2
    assert "tests.unit.test_tasks.plain_marked_in_test" in registered()
    assert defaults_for("tests.unit.test_tasks.plain_marked_in_test") is None
    assert AllowPolicy().permits("tests.unit.test_tasks.plain_marked_in_test")


def test_job_with_options_records_defaults() -> None:
    assert "tests.jobs.sample.with_defaults" in registered()
    defaults = defaults_for("tests.jobs.sample.with_defaults")
    assert defaults == JobOptions(job_timeout=7, result_ttl=-1, retry=1)
    assert defaults_for("tests.jobs.sample.not_marked") is None


def test_job_with_unknown_option_fails_at_decoration() -> None:
    with pytest.raises(TypeError, match="bogus"):
        job(bogus=1)(module_level)


def test_job_refuses_a_lambda() -> None:
    with pytest.raises(InvalidFunctionError):
        job(lambda: None)


def test_job_options_accept_retry() -> None:
    deco = job(retry=Retry(max=1))
    assert callable(deco)


def test_empty_policy_permits_only_registered_functions() -> None:
    policy = AllowPolicy()
    assert policy.permits("tests.jobs.sample.add")
    assert not policy.permits("tests.jobs.sample.not_marked")
    assert not policy.permits("os.system")


def test_prefixes_match_on_dotted_boundaries() -> None:
    policy = AllowPolicy.from_prefixes(["tests.jobs"])
    assert policy.permits("tests.jobs.x")
    assert policy.permits("tests.jobs.sample.not_marked")
    assert policy.permits("tests.jobs")
    assert not policy.permits("tests.jobsx.y")
    assert not policy.permits("tests.job")
    assert not policy.permits("tests.other.f")
    assert not policy.permits("xtests.jobs.f")


def test_from_prefixes_cleans_its_input() -> None:
    policy = AllowPolicy.from_prefixes([" myapp.tasks. ", "", "  ", "other"])
    assert policy.prefixes == ("myapp.tasks", "other")
    assert policy.permits("myapp.tasks.send")
    assert not policy.permits("myapp.tasksx.send")
    assert not policy.permits("myapp.f")


def test_extra_names() -> None:
    policy = AllowPolicy(extra=frozenset({"pkg.mod.f"}))
    assert policy.permits("pkg.mod.f")
    assert not policy.permits("pkg.mod.g")
    assert not policy.permits("pkg.mod")


def test_describe() -> None:
    text = AllowPolicy.from_prefixes(["a.b", "c"]).describe()
    assert "@job functions; prefixes a.b, c" in text
    assert f"{len(registered())} @job functions" in text
    assert "prefixes" not in AllowPolicy().describe()
