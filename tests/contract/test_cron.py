"""Cron ticks on every backend: each tick claimed, and its job stored, once."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from joblane.backends.base import Backend, ScheduleInfo, TickClaim
from joblane.core.clock import isoformat
from joblane.core.outcome import Outcome
from joblane.core.serialization import decode_call
from joblane.core.states import JobStatus, Registry
from joblane.schedules import META_KEY
from joblane.testing import ManualClock
from tests.cli.conftest import Processes, wait_until

from .conftest import Store
from .helpers import claim, make_job, report

T = 1_767_225_600.0


def tick_claim(clock: ManualClock, tick: float, schedule: str = "s") -> TickClaim:
    return TickClaim(schedule, tick, make_job(clock, "ticks", tick))


def info(name: str, now: float, expires: float, next_run: float | None = None) -> ScheduleInfo:
    return ScheduleInfo(name=name, func_name="tests.contract.tasks.work", spec="* * * * *",
                        timezone="UTC", queue="ticks", missed="skip", next_run=next_run,
                        worker="w1", heartbeat=now, expires=expires)  # fmt: skip


def test_a_tick_is_claimed_once_and_only_a_later_one_after_it(
    backend: Backend, clock: ManualClock
) -> None:
    claims = [tick_claim(clock, T), tick_claim(clock, T), tick_claim(clock, T + 60),
              tick_claim(clock, T + 30), tick_claim(clock, T, "other")]  # fmt: skip
    assert backend.claim_ticks(claims) == [True, False, True, False, True]
    queued = backend.list_queued("ticks")
    assert [job.id for job in queued] == [claims[i].job.id for i in (0, 2, 4)]
    assert backend.claim_ticks([tick_claim(clock, T + 60)]) == [False]
    assert backend.claim_ticks([]) == []
    assert backend.count("ticks") == 3


def test_a_claimed_tick_outlives_its_job(backend: Backend, clock: ManualClock) -> None:
    """unique=True forgets an ended job; a claimed tick stays claimed."""
    first = tick_claim(clock, T)
    assert backend.claim_ticks([first]) == [True]
    [job] = claim(backend, clock, ["ticks"])
    assert report(backend, clock, job, Outcome.success(b"null"))
    clock.advance(10_000)
    assert backend.purge_expired(clock.now()) == 1
    assert backend.get(first.job.id) is None
    assert backend.claim_ticks([tick_claim(clock, T)]) == [False]
    assert backend.count("ticks") == 0


def test_registration_starts_a_schedule_and_lists_it_until_it_lapses(
    backend: Backend, clock: ManualClock
) -> None:
    now = clock.now()
    assert backend.schedules() == []
    # A new schedule starts at its registration: ticks before it count as claimed.
    assert backend.register_schedules(
        [info("b", now, now + 15, T + 60), info("a", now, now + 5)]
    ) == {
        "b": now,
        "a": now,
    }
    assert backend.claim_ticks([tick_claim(clock, now, "b")]) == [False]
    assert backend.claim_ticks([tick_claim(clock, now + 1, "b")]) == [True]
    listed = backend.schedules()
    assert [(s.name, s.last_tick) for s in listed] == [("a", now), ("b", now + 1)]
    assert listed[1] == ScheduleInfo(
        name="b", func_name="tests.contract.tasks.work", spec="* * * * *", timezone="UTC",
        queue="ticks", missed="skip", next_run=T + 60, worker="w1", heartbeat=now,
        expires=now + 15, last_tick=now + 1,
    )  # fmt: skip
    clock.advance(5)
    assert [s.name for s in backend.schedules()] == ["b"]  # a lapsed
    # Registered again later (a worker restarted): its latest tick stays.
    assert backend.register_schedules([info("b", clock.now(), clock.now() + 15)]) == {"b": now + 1}
    clock.advance(15)
    assert backend.schedules() == []
    assert backend.claim_ticks([tick_claim(clock, now + 1, "b")]) == [False]


def test_peers_racing_for_the_same_ticks_store_each_once(store: Store) -> None:
    peers = store.peers(4)
    ticks = [T + i for i in range(40)]
    won: list[list[bool]] = [[] for _ in peers]

    def race(index: int) -> None:
        for tick in ticks:
            won[index] += peers[index].claim_ticks([tick_claim(store.clock, tick)])

    threads = [threading.Thread(target=race, args=(i,)) for i in range(len(peers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(flag for flags in won for flag in flags) == len(ticks)
    jobs = peers[0].list_queued("ticks", 0, 1000)
    assert sorted(decode_call(job.payload)[0][0] for job in jobs) == ticks


# -- three worker processes running one schedule, started and stopped meanwhile -------------


def _ticks(backend: Backend) -> list[float]:
    jobs = backend.list_queued("ticks", 0, 10_000)
    return [job.meta[META_KEY]["tick"] for job in jobs]


@pytest.mark.slow
@pytest.mark.requires(shared_between_processes=True)
def test_three_workers_enqueue_each_tick_once(store: Store, tmp_path: Path) -> None:
    backend = store.kind.open(store.directory, _SystemClock())
    store.opened.append(backend)
    processes = Processes()
    logs = []

    def start(name: str) -> subprocess.Popen[str]:
        log = (tmp_path / f"{name}.log").open("a")
        logs.append(log)
        return processes.start(
            "--url", backend.url, "worker", "--name", name, "--concurrency", "1",
            "--queues", "normal", "--schedules", "tests.jobs.ticks:EVERY_SECOND",
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def stop(proc: subprocess.Popen[str]) -> None:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0

    try:
        steady = start("steady")  # runs throughout: every tick has a scheduler
        wait_until(lambda: len(_ticks(backend)) >= 1, timeout=30, what="a first tick")
        b, c = start("b"), start("c")
        wait_until(lambda: len(backend.workers()) == 3, timeout=30, what="three workers")
        seen = len(_ticks(backend))
        wait_until(lambda: len(_ticks(backend)) >= seen + 2, timeout=30, what="two more ticks")
        stop(b)  # one stops and another starts while ticks go on
        b = start("b2")
        wait_until(lambda: len(_ticks(backend)) >= seen + 4, timeout=30, what="two more ticks")
        stop(c)
        wait_until(lambda: len(_ticks(backend)) >= seen + 6, timeout=30, what="two more ticks")
        for proc in (steady, b):
            stop(proc)
    finally:
        processes.stop_all()
        for log in logs:
            log.close()
    ticks = _ticks(backend)
    counts = Counter(ticks)
    assert [isoformat(t) for t, n in counts.items() if n > 1] == []  # none twice
    assert len(ticks) >= 7
    # Every second from the first tick to the last has its job: none lost.
    assert sorted(ticks) == [min(ticks) + i for i in range(len(ticks))]
    assert backend.registry_count("ticks", Registry.STARTED) == 0
    assert {job.status for job in backend.list_queued("ticks", 0, 10_000)} == {JobStatus.QUEUED}
    log_text = "".join((tmp_path / f"{n}.log").read_text() for n in ("steady", "b", "c", "b2"))
    assert "Traceback" not in log_text


class _SystemClock:
    def now(self) -> float:
        return time.time()
