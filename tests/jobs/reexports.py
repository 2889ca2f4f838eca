"""A job module like an application's: it imports ``os``, ``subprocess`` and
``joblane`` (as the README tells every job module to) and takes a few names
from other modules.

Everything reachable from here that is not defined here must stay out of
reach of a worker that ``--allow``s ``tests.jobs``: ``reexports.os.system``,
``reexports.subprocess.getoutput``, ``reexports.joblane.config.os.system``,
``reexports.system`` (``from os import system``), ``reexports.settings.read_text``.
"""

from __future__ import annotations

import os
import subprocess
from os import system
from pathlib import Path
from subprocess import getoutput

import joblane

__all__ = ["Greeter", "Path", "getoutput", "greet", "joblane", "os", "subprocess", "system"]

GREETER_NAME = "joblane"
shell = os.system
"""A module-level alias of a function defined elsewhere."""
settings = Path("joblane-tests-no-such-settings.toml")
"""An instance of a class defined elsewhere: its methods are not this module's."""


def greet(name: str) -> str:
    """A plain function defined here, not marked with ``@job``."""
    return f"hello {name}"


class Greeter:
    """A class defined here: its functions are this module's."""

    run = staticmethod(os.system)
    """A foreign function kept on a class of this module."""

    @staticmethod
    def shout(name: str) -> str:
        return f"HELLO {name}"

    @classmethod
    def named(cls, name: str) -> str:
        return f"{cls.__name__} {name}"


greeter = Greeter()
