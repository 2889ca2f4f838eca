"""The Plone worker: joblane's worker with the Zope application loaded in each slot.

::

    export PLONE_REDIS_DSN="redis://localhost:6379/0"      # or JOBLANE_URL
    export ZOPE_CONF=instance/etc/zope.conf                 # the instance's own
    python -m joblane.contrib.plone.worker --import my.addon.jobs [joblane worker options]

It is ``joblane worker`` with three things set: the backend URL the Plone way
(:func:`joblane.contrib.plone.config.worker_url`: ``JOBLANE_URL``, else
``PLONE_REDIS_DSN``, else zope.conf's ``<product-config joblane>``; no
fallback), ``--on-startup`` :func:`on_startup` (each slot process reads the
instance's zope.conf and opens its database once, as the instance does:
the add-ons' code and ZCML are loaded, seed 000's "preloads the code"), and
``--identity`` :func:`joblane.contrib.plone.site.restore` (jobs run as their
enqueuer). Site jobs (:func:`~joblane.contrib.plone.site.site_job`) then
open a connection per attempt; other jobs run as plain functions.

FileStorage allows one process: run one worker with ``--concurrency 1`` and
stop the instance, or (as in production) share the database through ZEO or
RelStorage, where any number of workers and slots can run.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from joblane.contrib.plone.config import worker_url
from joblane.contrib.plone.site import use_database
from joblane.contrib.plone.startup import install
from joblane.errors import ConfigurationError

ENV_ZOPE_CONF = "ZOPE_CONF"
"""The instance's zope.conf (also ``--zope-conf``)."""


def zope_conf(env: dict[str, str] | None = None) -> Path:
    """The zope.conf the worker loads; ConfigurationError naming what is missing."""
    value = (os.environ if env is None else env).get(ENV_ZOPE_CONF, "").strip()
    if not value:
        raise ConfigurationError(
            f"the Plone worker loads the instance's zope.conf: set {ENV_ZOPE_CONF} "
            "or pass --zope-conf PATH"
        )
    path = Path(value)
    if not path.is_file():
        raise ConfigurationError(f"{ENV_ZOPE_CONF}={value!r}: no such file")
    return path


def load_zope(conf: Path) -> Any:
    """Configure Zope from *conf* and start it (ZCML, products, the database):
    the ``ZODB.DB`` it opened."""
    import Zope2
    from Zope2.Startup.run import configure_wsgi

    configure_wsgi(str(conf))
    Zope2.startup_wsgi()
    return Zope2.DB


def on_startup(ctx: dict[str, Any]) -> None:
    """Each slot: load the Zope application once, run site jobs on its database.
    As in the instance, a job a site job enqueues joins its transaction and
    records its user (:func:`~joblane.contrib.plone.startup.install`)."""
    db = load_zope(zope_conf())
    use_database(db)
    install()  # Zope2.startup_wsgi does not send IProcessStarting
    ctx["zope_db"] = db


def on_shutdown(ctx: dict[str, Any]) -> None:
    db = ctx.get("zope_db")
    if db is not None:
        db.close()


def worker_arguments(argv: list[str]) -> list[str]:
    """The ``joblane`` command line the Plone worker runs (``--zope-conf`` taken out)."""
    args = list(argv)
    if "--zope-conf" in args:
        at = args.index("--zope-conf")
        if at + 1 >= len(args):
            raise ConfigurationError("--zope-conf needs a path")
        os.environ[ENV_ZOPE_CONF] = args[at + 1]
        del args[at : at + 2]
    zope_conf()  # refuse a missing zope.conf before any slot starts
    return [
        "--url", worker_url(),
        "worker",
        "--on-startup", "joblane.contrib.plone.worker:on_startup",
        "--on-shutdown", "joblane.contrib.plone.worker:on_shutdown",
        "--identity", "joblane.contrib.plone.site:restore",
        *args,
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """``python -m joblane.contrib.plone.worker [--zope-conf PATH] [worker options]``."""
    from joblane.cli import main as joblane_main

    try:
        args = worker_arguments(sys.argv[1:] if argv is None else argv)
    except ConfigurationError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    return joblane_main(args)


if __name__ == "__main__":
    sys.exit(main())
