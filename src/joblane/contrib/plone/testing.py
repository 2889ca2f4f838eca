"""plone.app.testing layers for add-ons that enqueue joblane jobs.

::

    from joblane.contrib.plone.testing import JOBLANE_INTEGRATION_TESTING, run_pending_jobs

    class TestMyJobs(unittest.TestCase):
        layer = JOBLANE_INTEGRATION_TESTING

        def test_it(self):
            my_view()                          # enqueues (joins the test's transaction)
            jobs = run_pending_jobs()          # run now, in this transaction and site
            assert jobs[0].status == "finished"

* :data:`JOBLANE_FIXTURE`: Plone with plone.restapi and joblane's profile
  installed, enqueues joining the Zope transaction, the instance's backend
  ``JOBLANE_URL=immediate://`` (jobs run inline when stored; the layer's
  ``url``).
* :data:`JOBLANE_INTEGRATION_TESTING`: nothing is committed, so jobs stay in
  the test's transaction; :func:`run_pending_jobs` runs them there, in the
  test's site, as the test's current user.
* :data:`JOBLANE_FUNCTIONAL_TESTING`: ``transaction.commit()`` stores the jobs
  (and the immediate backend runs them); with another ``JOBLANE_URL`` (a
  SQLite file), :func:`worker_thread` runs them in a worker thread, each site
  job on its own connection to the layer's database, as its enqueuer.
* :data:`JOBLANE_SERVER_TESTING`: the functional layer behind a real WSGI
  server (``layer["host"]``, ``layer["port"]``).
"""

from __future__ import annotations

import os
from typing import Any

from plone.app.testing import (
    PLONE_FIXTURE,
    FunctionalTesting,
    IntegrationTesting,
    PloneSandboxLayer,
    applyProfile,
)
from plone.testing import zope as zope_testing

from joblane.client import Job
from joblane.contrib.plone import startup
from joblane.contrib.plone.config import instance_backend
from joblane.contrib.plone.site import restore, use_database
from joblane.worker.worker import WorkerThread

TEST_URL = "immediate://"


class JoblaneLayer(PloneSandboxLayer):
    """Plone + plone.restapi + joblane's profile; enqueues join the transaction."""

    defaultBases = (PLONE_FIXTURE,)
    url = TEST_URL
    """The instance's backend while the layer is set up (``JOBLANE_URL``); a
    subclass (or a test, with ``monkeypatch.setenv``) may name another."""

    def setUpZope(self, app: Any, configurationContext: Any) -> None:
        import joblane.contrib.plone

        self.loadZCML(package=joblane.contrib.plone)
        self.previous_url = os.environ.get("JOBLANE_URL")
        os.environ["JOBLANE_URL"] = self.url
        startup.install()

    def setUpPloneSite(self, portal: Any) -> None:
        applyProfile(portal, "joblane.contrib.plone:default")

    def tearDownZope(self, app: Any) -> None:
        startup.uninstall()
        if self.previous_url is None:
            os.environ.pop("JOBLANE_URL", None)
        else:
            os.environ["JOBLANE_URL"] = self.previous_url


JOBLANE_FIXTURE = JoblaneLayer()
JOBLANE_INTEGRATION_TESTING = IntegrationTesting(
    bases=(JOBLANE_FIXTURE,), name="Joblane:Integration"
)
JOBLANE_FUNCTIONAL_TESTING = FunctionalTesting(bases=(JOBLANE_FIXTURE,), name="Joblane:Functional")
JOBLANE_SERVER_TESTING = FunctionalTesting(
    bases=(JOBLANE_FIXTURE, zope_testing.WSGI_SERVER_FIXTURE), name="Joblane:Server"
)


def pending_records() -> list[Any]:
    """The jobs enqueued in the current transaction, not yet stored."""
    for adapter in startup._installed:
        pending = adapter.pending()
        if pending is not None:
            return [record for _, record, _ in pending.entries]
    return []


def run_pending_jobs() -> list[Job]:
    """Store the current transaction's jobs now instead of at its commit. On
    the layer's ``immediate://`` backend they run at once, in this thread,
    transaction and site, as the test's current user; returns them
    (``job.status``, ``job.return_value``)."""
    backend = instance_backend()
    records = []
    for adapter in startup._installed:
        pending = adapter.pending()
        if pending is not None:
            records += [record for _, record, _ in pending.entries]
            pending.discard()
    return [Job(record, backend).refresh() for record in backend.enqueue(records)]


def worker_thread(layer: Any, **options: Any) -> WorkerThread:
    """A joblane worker thread of the test process over the instance's backend,
    running site jobs on *layer*'s database (``layer["zodbDB"]``), each on its
    own connection and as its enqueuer (``with worker_thread(self.layer): ...``):
    for a functional layer, whose commits other connections see. *options* go
    to :class:`~joblane.worker.worker.Worker` (``burst=True`` drains and stops)."""
    use_database(layer["zodbDB"])
    options.setdefault("identity", restore)
    return WorkerThread(instance_backend(), **options)
