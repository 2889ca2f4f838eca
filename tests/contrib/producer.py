"""A producer process: enqueues jobs in Zope transactions, commits or aborts them.

``python -m tests.contrib.producer URL LEDGER MODE``, MODE one of:

* ``mixed``: 20 transactions of 3 jobs, every other one aborted, and in each a
  job enqueued after a savepoint that is rolled back;
* ``kill`` / ``kill-nospool``: one transaction of 5 jobs, the process killed
  (SIGKILL) in tpc_finish right before the store (after the spool write).

Prints one JSON line per transaction (tags, committed or not) before it ends.
"""

from __future__ import annotations

import json
import os
import signal
import sys

import transaction

from joblane import Queue
from joblane.config import backend_from_url
from joblane.contrib.transaction import install

RECORD = "tests.jobs.ledger.record"


def report(tags: list[str], committed: bool) -> None:
    print(json.dumps({"tags": tags, "committed": committed}), flush=True)


def mixed(queue: Queue, ledger: str) -> None:
    for n in range(20):
        tags = [f"t{n}-{i}" for i in range(3)]
        for tag in tags:
            queue.enqueue(RECORD, ledger, tag)
        savepoint = transaction.savepoint()
        queue.enqueue(RECORD, ledger, f"t{n}-rolled-back")
        savepoint.rollback()
        committed = n % 2 == 0
        report([f"t{n}-rolled-back"], False)
        report(tags, committed)
        transaction.commit() if committed else transaction.abort()


def killed(queue: Queue, ledger: str) -> None:
    tags = [f"k-{i}" for i in range(5)]
    for tag in tags:
        queue.enqueue(RECORD, ledger, tag)
    report(tags, True)
    transaction.commit()


def main(url: str, ledger: str, mode: str) -> None:
    adapter = install(spool=mode != "kill-nospool")
    if mode.startswith("kill"):
        adapter.before_store = lambda: os.kill(os.getpid(), signal.SIGKILL)
    queue = Queue("normal", backend=backend_from_url(url))
    mixed(queue, ledger) if mode == "mixed" else killed(queue, ledger)


if __name__ == "__main__":
    main(*sys.argv[1:4])
