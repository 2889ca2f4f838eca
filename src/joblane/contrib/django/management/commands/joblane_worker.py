"""``manage.py joblane_worker``: a joblane worker for a backend of ``TASKS``.

Django is set up once, in the worker process, before its slot processes are
forked; each slot drops the connections it would inherit and closes stale ones
around each job (:mod:`joblane.contrib.django.execution`).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from joblane.config import backend_from_url
from joblane.contrib.django.backend import JoblaneBackend, worker_queues
from joblane.contrib.django.compat import task_backends
from joblane.contrib.django.execution import (
    attempt_ended,
    job_boundary,
    slot_started,
    slot_stopping,
)
from joblane.errors import WorkerStartupError
from joblane.worker.worker import Worker

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def joblane_backend_for(alias: str) -> JoblaneBackend:
    """``TASKS[alias]`` if it is a :class:`JoblaneBackend`, else CommandError."""
    try:
        backend = task_backends[alias]
    except Exception as error:
        raise CommandError(f"TASKS[{alias!r}]: {error}") from error
    if not isinstance(backend, JoblaneBackend):
        raise CommandError(
            f"TASKS[{alias!r}] uses {type(backend).__module__}.{type(backend).__qualname__}, "
            "not joblane.contrib.django.JoblaneBackend"
        )
    return backend


class Command(BaseCommand):
    help = "Run a joblane worker for the tasks of a TASKS backend (Django's tasks framework)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--backend", default="default", help="The TASKS alias to serve.")
        parser.add_argument(
            "--queue", action="append", dest="queue_names", metavar="NAME",
            help="A Django queue to serve (repeatable); default: every one of QUEUES.",
        )  # fmt: skip
        parser.add_argument("-c", "--concurrency", type=int, default=None,
                            help="Slot processes [default: CPUs, min 2].")  # fmt: skip
        parser.add_argument("--jobs-per-slot", type=int, default=1,
                            help="Async tasks each slot runs at once.")  # fmt: skip
        parser.add_argument("--burst", action="store_true", help="Drain the queues, then exit.")
        parser.add_argument("--name", default=None, help="Worker name [default: host.pid.random].")

    def handle(self, *args: Any, **options: Any) -> None:
        backend = joblane_backend_for(options["backend"])
        names = options["queue_names"] or backend.queue_order
        unknown = [n for n in names if backend.queues and n not in backend.queues]
        if unknown:
            raise CommandError(f"queue(s) {unknown} not in TASKS[{backend.alias!r}]['QUEUES']")
        if options["verbosity"] >= 1:
            logging.basicConfig(level=logging.INFO, stream=sys.stderr, format=LOG_FORMAT)
        # No connection may cross the fork into the slots (a PostgreSQL socket
        # shared by two processes breaks both).
        connections.close_all()
        store = backend_from_url(backend.url)
        try:
            worker = Worker(
                store, worker_queues(names), concurrency=options["concurrency"],
                name=options["name"], burst=options["burst"],
                jobs_per_slot=options["jobs_per_slot"],
                on_success=attempt_ended, on_failure=attempt_ended,
                on_startup=slot_started, on_shutdown=slot_stopping,
                on_job_start=job_boundary, on_job_end=job_boundary,
            )  # fmt: skip
            worker.run()
        except (ValueError, WorkerStartupError) as error:
            raise CommandError(str(error)) from error
        finally:
            store.close()
