"""Jobs with success and failure callbacks, and worker callbacks, for worker
processes. Each callback that records writes one JSON file into the directory
``$HOOK_DIR`` names: ``{tag}-{job id}-{attempt}.json``."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import orjson

from joblane import job
from joblane.core.job import JobRecord
from joblane.core.outcome import Outcome


def _record(tag: str, record: JobRecord, outcome: Outcome) -> None:
    entry = {
        "tag": tag, "id": record.id, "status": str(record.status), "kind": str(outcome.kind),
        "error": outcome.error, "last_job_result": record.last_job_result,
        "attempts": record.attempts, "pid": os.getpid(),
    }  # fmt: skip
    path = Path(os.environ["HOOK_DIR"]) / f"{tag}-{record.id}-{record.attempts}.json"
    path.write_bytes(orjson.dumps(entry))


def job_failed(record: JobRecord, outcome: Outcome) -> None:
    _record("job-failure", record, outcome)


def job_succeeded(record: JobRecord, outcome: Outcome) -> None:
    _record("job-success", record, outcome)


def worker_failed(record: JobRecord, outcome: Outcome) -> None:
    _record("worker-failure", record, outcome)


def worker_succeeded(record: JobRecord, outcome: Outcome) -> None:
    _record("worker-success", record, outcome)


def explode(record: JobRecord, outcome: Outcome) -> None:
    raise RuntimeError(f"callback exploded on {record.id}")


def slow(record: JobRecord, outcome: Outcome) -> None:
    time.sleep(2)
    _record("slow", record, outcome)


@job(on_failure=job_failed, on_success=job_succeeded)
def watched(fail: bool) -> str:
    if fail:
        raise ValueError("watched job failed")
    return "ok"


@job(on_failure=explode, on_success=explode)
def exploding(fail: bool) -> str:
    if fail:
        raise ValueError("exploding job failed")
    return "ok"


def read_records(directory: Path) -> dict[str, dict[str, Any]]:
    """Every record written, by file stem."""
    return {p.stem: orjson.loads(p.read_bytes()) for p in directory.glob("*.json")}
