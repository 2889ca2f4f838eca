"""Counting what happened in a chaos run, from the backend and from the run log.

The run log (written by ``bench.tasks.chaos_step``) says what actually ran;
the backend says where each accepted job ended up. Definitions, per run:

* **lost**: accepted (its enqueue returned) but, at the end, not in the backend
  at all, or recorded ``finished`` although its body never ran to its end.
* **re-run**: started more than once (two or more ``S`` lines).
* **duplicates**: its body ran to its end more than once (two or more ``E``
  lines): the side effect happened twice.
* **failed**: status ``failed``, grouped by reason; *never ran* counts those
  without a single ``S`` line, *completed* those whose body did run to its end.
* **phantom attempts**: attempts the backend charged without the job starting
  (claims minus ``S`` lines, summed over jobs).
* **recovery**: for a kill, for each job the kill interrupted (worker kill:
  the jobs the backend had started under that worker just after the kill;
  slot kill: the job running in that slot), the time from the kill to the next
  start of that job in another process; for a Redis fault, the time from Redis
  being back to the first job start after it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.chaos_procs import Kill
from bench.common import percentile
from joblane.backends.base import Backend
from joblane.core.job import JobRecord
from joblane.core.states import LIVE_STATUSES, JobStatus


@dataclass
class RunLog:
    starts: dict[int, list[tuple[float, int, int]]] = field(default_factory=dict)
    """job index -> (t, attempt, pid) of each start, in log order."""
    ends: Counter[int] = field(default_factory=Counter)
    by_pid: dict[int, list[tuple[float, str, int]]] = field(default_factory=dict)
    """pid -> (t, "S" or "E", job index) of each line."""
    malformed: int = 0


def read_runlog(path: Path) -> RunLog:
    log = RunLog()
    if not path.exists():
        return log
    for line in path.read_text(errors="replace").splitlines():
        parts = line.split()
        try:
            if parts[0] == "S" and len(parts) == 6:
                i, attempt, pid, t = int(parts[1]), int(parts[2]), int(parts[3]), float(parts[5])
                log.starts.setdefault(i, []).append((t, attempt, pid))
            elif parts[0] == "E" and len(parts) == 5:
                i, pid, t = int(parts[1]), int(parts[3]), float(parts[4])
                log.ends[i] += 1
            else:
                raise ValueError(line)
        except (ValueError, IndexError):
            log.malformed += 1
            continue
        log.by_pid.setdefault(pid, []).append((t, parts[0], i))
    return log


@dataclass
class Fault:
    """A Redis fault: down (or frozen) from *began* to *ended* (monotonic)."""

    kind: str
    began: float
    ended: float


def records(backend: Backend, ids: Sequence[str], chunk: int = 500) -> list[JobRecord | None]:
    found: list[JobRecord | None] = []
    for start in range(0, len(ids), chunk):
        found += backend.get_many(ids[start : start + chunk])
    return found


def _reason(text: str | None) -> str:
    """The first line of a failure, with names and numbers taken out so that
    like reasons group together."""
    first = ((text or "").strip().splitlines() or ["(no reason)"])[0]
    first = re.sub(r"worker \S+", "worker W", first.split(" (")[0])
    return re.sub(r"\d+(\.\d+)?", "N", first)[:100]


def _next_start(log: RunLog, i: int, after: float, dead: set[int]) -> float | None:
    for t, _, pid in log.starts.get(i, ()):
        if t > after and pid not in dead:
            return t
    return None


def interrupted_by(log: RunLog, kill: Kill, index_of: dict[str, int]) -> list[int]:
    """Job indices the kill interrupted (see the module docstring)."""
    if kill.kind == "worker":
        return [index_of[j] for j in kill.held if j in index_of]
    (pid,) = kill.pids
    before = [line for line in log.by_pid.get(pid, ()) if line[0] <= kill.at]
    # The slot's last line before the kill was a start: that job was running.
    return [before[-1][2]] if before and before[-1][1] == "S" else []


def recovery(log: RunLog, kills: Sequence[Kill], faults: Sequence[Fault],
             index_of: dict[str, int]) -> tuple[list[float], int, int]:  # fmt: skip
    """Recovery times (s), how many jobs the kills interrupted, and how many of
    those never started again."""
    times: list[float] = []
    interrupted = never = 0
    for kill in kills:
        for i in interrupted_by(log, kill, index_of):
            interrupted += 1
            nxt = _next_start(log, i, kill.at, kill.pids)
            if nxt is None:
                never += 1
            else:
                times.append(nxt - kill.at)
    for fault in faults:
        after = [s[0] for runs in log.starts.values() for s in runs if s[0] > fault.ended]
        if after:
            times.append(min(after) - fault.ended)
    return times, interrupted, never


def tally(backend: Backend, ids: Sequence[str], log: RunLog, kills: Sequence[Kill],
          faults: Sequence[Fault]) -> dict[str, Any]:  # fmt: skip
    """The figures of one run (see the module docstring)."""
    index_of = {job_id: i for i, job_id in enumerate(ids)}
    status: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    lost = bogus = never_ran = completed = phantom = 0
    for i, record in enumerate(records(backend, ids)):
        runs = log.starts.get(i, [])
        if record is None:
            lost += 1
            continue
        status[record.status.value] += 1
        phantom += max(record.attempts - len(runs), 0)
        if record.status is JobStatus.FINISHED and not log.ends[i]:
            bogus += 1
        if record.status is JobStatus.FAILED:
            reasons[_reason(record.last_job_result)] += 1
            never_ran += not runs
            completed += log.ends[i] > 0
    times, interrupted, never = recovery(log, kills, faults, index_of)
    return {
        "jobs": len(ids),
        "kills": len(kills) + len(faults),
        "lost": lost + bogus,
        "missing": lost,
        "finished_without_running": bogus,
        "unended": sum(status[s.value] for s in LIVE_STATUSES),
        "status": dict(status),
        "rerun": sum(len(runs) > 1 for runs in log.starts.values()),
        "duplicates": sum(n > 1 for n in log.ends.values()),
        "failed": status[JobStatus.FAILED.value],
        "failed_never_ran": never_ran,
        "failed_completed": completed,
        "failed_reasons": dict(reasons.most_common()),
        "phantom_attempts": phantom,
        "interrupted": interrupted,
        "interrupted_not_restarted": never,
        "recovery_p50_s": percentile(times, 50) if times else None,
        "recovery_max_s": max(times) if times else None,
        "runlog_malformed_lines": log.malformed,
        "runlog_unknown_jobs": len(set(log.starts) - set(range(len(ids)))),
    }
