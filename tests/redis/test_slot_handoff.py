"""A slot that waits itself (backends/redis/handoff.py, "A slot waits itself";
worker/slots.py): a job handed to an idle worker goes from Redis straight to
the slot process that runs it, the worker learns of it before it runs, and
no job is lost or counted wrongly whatever happens to the slot meanwhile."""

from __future__ import annotations

import os
import select
import signal
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from joblane import JobStatus, Queue
from joblane.backends.redis import RedisBackend, handoff
from joblane.backends.redis import from_url as redis_from_url
from joblane.core.job import JobRecord
from joblane.core.outcome import Outcome
from joblane.tasks import AllowPolicy
from joblane.testing import ManualClock
from joblane.worker.slots import ProcessExecutor
from tests.jobs import sample
from tests.servers import RedisServer
from tests.worker.conftest import WorkerProcesses, wait_until

LEASE = 30.0


def parked(backend: RedisBackend) -> dict[bytes, bytes]:
    return backend._conn.client.hgetall(backend.prefix + "parked")  # type: ignore[return-value]


def inbox(backend: RedisBackend, worker: str) -> list[bytes]:
    return backend._conn.client.lrange(backend.keys.inbox(worker), 0, -1)  # type: ignore[return-value]


@pytest.fixture
def executor(clocked_backend: RedisBackend) -> Iterator[ProcessExecutor]:
    """One slot process, able to wait for the jobs handed to worker "w1"."""
    ex = ProcessExecutor(1, AllowPolicy())
    ex.handoff = clocked_backend.slot_inbox("w1")
    ex.start()
    clocked_backend.accept_handoffs("w1", lease_seconds=LEASE, by_slot=True)
    yield ex
    ex.close()


def wait_and_park(b: RedisBackend, ex: ProcessExecutor, clock: ManualClock) -> None:
    """The slot waits; a claim that takes nothing parks the worker."""
    assert ex.wait_for_handoff()
    waiting = ex.waiting_slot()
    assert waiting is not None and waiting[1] is False
    b.slot_waiting("w1", waiting[0], park=True)
    _, jobs = b.claim(["normal"], worker="w1", limit=0, lease_seconds=LEASE, now=clock.now(),
                      starting=0)  # fmt: skip
    assert jobs == []
    assert b"w1" in parked(b)


def takes_the_next_job(b: RedisBackend, ex: ProcessExecutor, clock: ManualClock) -> None:
    """The slot waits again, and the next job enqueued is handed to it and run."""
    wait_and_park(b, ex, clock)
    job = Queue("normal", backend=b).enqueue(sample.add, 4, 4)
    [(ran, outcome)] = outcomes(ex, 1)
    assert ran.id == job.id and outcome == Outcome.success(b"8")


def outcomes(ex: ProcessExecutor, count: int) -> list[tuple[JobRecord, Outcome]]:
    done: list[tuple[JobRecord, Outcome]] = []
    deadline = time.monotonic() + 15
    while len(done) < count and time.monotonic() < deadline:
        done += ex.wait(0.1)
    assert len(done) == count, done
    return done


def test_a_waiting_slot_takes_the_job_handed_and_tells_the_executor_first(
    clocked_backend: RedisBackend, executor: ProcessExecutor, clock: ManualClock
) -> None:
    b, ex = clocked_backend, executor
    wait_and_park(b, ex, clock)
    assert ex.free() == 0 and ex.idle() == 0  # the waiting slot takes no job frame

    job = Queue("normal", backend=b).enqueue(sample.add, 1, 2)
    stored = b.get(job.id)
    assert stored is not None and stored.status is JobStatus.STARTED  # handed by its enqueue
    assert parked(b) == {}

    [(ran, outcome)] = outcomes(ex, 1)
    assert ran.id == job.id and outcome == Outcome.success(b"3")
    assert ran.lease_token is not None and ran.lease_token.startswith("h")
    # The executor knew of it before it ran: its start is to be recorded, its lease renewed.
    assert [j.id for j in ex.take_handed()] == [job.id]
    assert [j.id for j in ex.take_started()] == [job.id]
    assert ex.waiting_slot() is None and ex.free() == 1
    assert inbox(b, "w1") == []


def test_a_waiting_slot_told_to_stop_says_so_and_runs_job_frames_again(
    clocked_backend: RedisBackend, executor: ProcessExecutor, clock: ManualClock
) -> None:
    b, ex = clocked_backend, executor
    wait_and_park(b, ex, clock)
    ex.stop_waiting()
    waiting = ex.waiting_slot()
    assert waiting is not None and waiting[1] is True  # told, until it says so
    deadline = time.monotonic() + 10
    while ex.waiting_slot() is not None and time.monotonic() < deadline:
        ex.wait(0.1)
    assert ex.waiting_slot() is None and ex.free() == 1
    assert inbox(b, "w1") == []  # the marker was read by the slot's own wait

    # Parked still, the worker is handed the next job: it waits in the list,
    # since no slot waits, and the next claim returns it.
    queued = Queue("normal", backend=b).enqueue(sample.add, 2, 2)
    assert len(inbox(b, "w1")) == 1
    _, jobs = b.claim(["normal"], worker="w1", limit=1, lease_seconds=LEASE, now=clock.now())
    assert [j.id for j in jobs] == [queued.id]
    ex.submit(jobs[0])
    [(ran, outcome)] = outcomes(ex, 1)
    assert ran.id == queued.id and outcome == Outcome.success(b"4")


def test_a_marker_left_in_the_inbox_stays_for_the_next_wait(
    clocked_backend: RedisBackend, executor: ProcessExecutor, clock: ManualClock
) -> None:
    b, ex = clocked_backend, executor
    b._conn.client.rpush(b.keys.inbox("w1"), b"")
    _, jobs = b.claim(["normal"], worker="w1", limit=1, lease_seconds=LEASE, now=clock.now())
    assert jobs == [] and inbox(b, "w1") == [b""]  # a claim keeps it (and does not fail on it)
    assert ex.wait_for_handoff()
    deadline = time.monotonic() + 10
    while ex.waiting_slot() is not None and time.monotonic() < deadline:
        ex.wait(0.1)
    assert ex.waiting_slot() is None and inbox(b, "w1") == []  # the wait read it, and ended


def slot_pids(worker_pid: int) -> list[int]:
    children = Path(f"/proc/{worker_pid}/task/{worker_pid}/children").read_text().split()
    return [int(pid) for pid in children]


def hand_one(backend: RedisBackend, workers: WorkerProcesses, i: int) -> JobRecord:
    """Enqueue ``add(i, 10)`` for the parked worker w0 until one is taken by
    its waiting slot (on a loaded machine the worker's own claim may read the
    inbox before the slot's BLPOP is there: the job then runs as a claimed
    one); returns the one it took, finished."""
    for _ in range(50):
        wait_until(lambda: len(parked(backend)) == 1, what="the idle worker parks")
        before = workers.log(0).count("handed to a waiting slot")
        job_id = Queue("normal", backend=backend).enqueue(sample.add, i, 10).id

        def finished(job_id: str = job_id) -> bool:
            record = backend.get(job_id)
            return record is not None and record.status is JobStatus.FINISHED

        wait_until(finished, what="the job run")
        if workers.log(0).count("handed to a waiting slot") > before:
            record = backend.get(job_id)
            assert record is not None
            return record
    raise AssertionError("no job was taken by a waiting slot in 50 tries")


@pytest.mark.slow
def test_a_real_worker_runs_handed_jobs_in_its_slot_and_queued_ones_too(
    backend: RedisBackend, workers: WorkerProcesses
) -> None:
    worker = workers.start("--concurrency", "1")
    wait_until(lambda: len(parked(backend)) == 1, what="the idle worker parks")
    q = Queue("normal", backend=backend)
    # A batch goes on the queue (handed to no one): the waiting slot stops waiting to run it.
    batch = q.enqueue_many([Queue.prepare_data(sample.add, (i, 1)) for i in range(5)])
    singles = [hand_one(backend, workers, i) for i in range(3)]
    ids = [*(j.id for j in batch), *(j.id for j in singles)]

    def ran() -> list[JobRecord | None]:
        return [backend.get(i) for i in ids]

    wait_until(lambda: all(j and j.status is JobStatus.FINISHED for j in ran()), what="all ran")
    assert [(j.result, j.attempts, j.started is not None) for j in ran() if j] == [
        *((str(i + 1).encode(), 1, True) for i in range(5)),
        *((str(i + 10).encode(), 1, True) for i in range(3)),
    ]
    wait_until(lambda: len(parked(backend)) == 1, what="idle again, parked again")
    started = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(10) == 0
    assert time.monotonic() - started < 5  # the waiting slot stopped waiting at once
    assert parked(backend) == {} and inbox(backend, "w0") == []


@pytest.mark.slow
def test_a_job_taken_by_a_slot_killed_before_it_said_so_is_given_back_uncounted(
    backend: RedisBackend, workers: WorkerProcesses
) -> None:
    worker = workers.start("--concurrency", "1", "--lease", "1")
    wait_until(lambda: len(parked(backend)) == 1, what="the idle worker parks")
    [slot] = slot_pids(worker.pid)
    os.kill(slot, signal.SIGSTOP)  # its BLPOP takes the job; the slot never reads it
    job = Queue("normal", backend=backend).enqueue(sample.add, 2, 3)
    wait_until(lambda: inbox(backend, "w0") == [], what="the BLPOP took the entry")
    os.kill(slot, signal.SIGKILL)

    def stored() -> JobRecord | None:
        return backend.get(job.id)

    # Leased to a worker that never heard of it: the lease lapses, the job goes
    # back uncounted and runs once, in the slot that replaced the dead one.
    wait_until(lambda: (j := stored()) is not None and j.status is JobStatus.FINISHED,
               what="the job recovered and run")  # fmt: skip
    record = stored()
    assert record is not None and record.result == b"5"
    assert (record.attempts, record.lost_attempts) == (1, 0)
    assert worker.poll() is None  # the worker carried on: its new slot waits in turn
    hand_one(backend, workers, 3)


def test_a_wait_ends_by_itself_and_one_with_no_reply_is_given_up(
    clocked_backend: RedisBackend, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slot's BLPOP ends after SLOT_WAIT (the worker has it wait again); a wait
    that brings no reply at all within its limit (a connection that died without
    a word) is dropped: either way the slot says it stopped waiting, so the
    worker never waits for it for ever."""
    b = clocked_backend
    inbox = b.slot_inbox("w1")
    ex = ProcessExecutor(1, AllowPolicy())
    ex.handoff = inbox
    ex.start()
    try:
        b.accept_handoffs("w1", lease_seconds=LEASE, by_slot=True)
        cases = ((1, 10.0, "Redis ended the BLPOP"), (30, 0.3, "no reply: given up"))
        for slot_wait, limit, why in cases:
            # The slots fork with both: set before each new slot.
            monkeypatch.setattr(handoff, "SLOT_WAIT", slot_wait)
            inbox.limit = limit
            ex.close()
            ex = ProcessExecutor(1, AllowPolicy())
            ex.handoff = inbox
            ex.start()
            assert ex.wait_for_handoff()
            started = time.monotonic()
            while ex.waiting_slot() is not None and time.monotonic() - started < 3:
                ex.wait(0.1)
            assert ex.waiting_slot() is None, why
        takes_the_next_job(b, ex, clock)  # a wait after those still takes a job
    finally:
        ex.close()


class SilentProxy:
    """A TCP relay to Redis whose connections can go silent: nothing passes
    either way and nothing is closed, as when a NAT or a firewall forgets an
    idle connection, or the network between goes away."""

    def __init__(self, port: int) -> None:
        self.upstream = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.pairs: list[tuple[socket.socket, socket.socket, threading.Event]] = []
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream))
            silent = threading.Event()
            self.pairs.append((client, server, silent))
            threading.Thread(target=self._relay, args=(client, server, silent),
                             daemon=True).start()  # fmt: skip

    def _relay(self, client: socket.socket, server: socket.socket, silent: threading.Event) -> None:
        peer = {client: server, server: client}
        while not self.closed:
            try:
                ready, _, _ = select.select([client, server], [], [], 0.05)
                if silent.is_set():
                    continue  # read nothing, pass nothing, close nothing
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peer[sock].sendall(data)
            except OSError:
                return

    def silence(self) -> None:
        """Every connection made so far goes silent (new ones still pass)."""
        for _, _, silent in self.pairs:
            silent.set()

    def close(self) -> None:
        self.closed = True
        self.listener.close()
        for client, server, _ in self.pairs:
            client.close()
            server.close()


def blocked_on(backend: RedisBackend, idle: int | None = None) -> int:
    """How many clients Redis has blocked in a BLPOP (sent *idle* seconds ago)."""
    clients = backend._conn.client.client_list()
    return sum(1 for c in clients if c.get("cmd") == "blpop" and "b" in c.get("flags", "")
               and (idle is None or int(c.get("idle", -1)) == idle))  # fmt: skip


def test_a_slot_told_to_stop_waiting_on_a_connection_gone_silent_stops_all_the_same(
    clocked_backend: RedisBackend, clock: ManualClock, tmp_path: Path
) -> None:
    """Without a bound, the slot waited for its BLPOP's reply for ever: the
    worker counted it out of its free slots for ever, and a job claimed for
    it stayed in "started", its lease renewed, never run."""
    b = clocked_backend
    port = int(b._conn.client.connection_pool.connection_kwargs["port"])
    proxy = SilentProxy(port)
    via = redis_from_url(f"redis://127.0.0.1:{proxy.port}/0?prefix={b.prefix}")
    ex = ProcessExecutor(1, AllowPolicy())
    ex.handoff = via.slot_inbox("w1")
    ex.start()
    try:
        b.accept_handoffs("w1", lease_seconds=LEASE, by_slot=True)
        wait_and_park(b, ex, clock)
        wait_until(lambda: blocked_on(b) == 1, what="the slot's BLPOP in Redis")
        proxy.silence()
        ex.stop_waiting()  # e.g. a job was claimed for it
        deadline = time.monotonic() + 10
        while ex.waiting_slot() is not None and time.monotonic() < deadline:
            ex.wait(0.1)
        assert ex.waiting_slot() is None and ex.free() == 1  # it said it stopped

        takes_the_next_job(b, ex, clock)  # waiting again on a connection of its own
    finally:
        ex.close()
        via.close()
        proxy.close()


@pytest.mark.slow
def test_a_worker_stopped_while_redis_is_away_tells_its_waiting_slot_to_stop(
    own_server: RedisServer, tmp_path: Path
) -> None:
    """SIGTERM while Redis does not answer: ending the hand-offs fails, and the
    waiting slot must be told to stop all the same, or the worker waits for a
    slot that waits on (until its BLPOP ends)."""
    url = own_server.url(prefix="t:", retry_for="1", socket_timeout="0.5")
    backend = redis_from_url(url)
    workers = WorkerProcesses(url, tmp_path)
    try:
        worker = workers.start("--concurrency", "1", "--grace", "30")
        wait_until(lambda: len(parked(backend)) == 1, what="the idle worker parks")
        # Just after the slot's BLPOP was sent (it lasts SLOT_WAIT, 5 s, at most).
        wait_until(lambda: blocked_on(backend, idle=0) == 1, what="a fresh BLPOP")
        assert own_server.process is not None
        own_server.process.send_signal(signal.SIGSTOP)
        try:
            worker.send_signal(signal.SIGTERM)
            wait_until(lambda: "carrying on" in workers.log(0), what="the failed end of hand-offs")
        finally:
            own_server.process.send_signal(signal.SIGCONT)
        started = time.monotonic()
        assert worker.wait(20) == 0
        # Told to stop, the slot says so at once: not when its BLPOP ends.
        assert time.monotonic() - started < 2, workers.log(0)
    finally:
        workers.stop_all()
        backend.close()


@pytest.mark.slow
def test_a_job_claimed_while_a_slot_waits_goes_to_that_slot_not_behind_a_long_job(
    backend: RedisBackend, workers: WorkerProcesses
) -> None:
    """Short jobs are pipelined (the next one written to a busy slot behind the
    running one). The waiting slot takes no job frame, but it is an idle slot:
    a job claimed while it waits must go to it once it stopped waiting, not
    into the pipe of a slot running a long job, where it waited, "started",
    for that job's end."""
    worker = workers.start("--concurrency", "2")
    wait_until(lambda: len(parked(backend)) == 1, what="the idle worker parks")
    q = Queue("normal", backend=backend)
    # Many short jobs first: the worker then pipelines (its jobs average < 1 ms).
    teach = q.enqueue_many([Queue.prepare_data(sample.noop, ()) for _ in range(200)])

    def taught() -> bool:
        return q.count == 0 and all((j := backend.get(t.id)) and j.ended for t in teach[-5:])

    wait_until(taught, what="the short jobs run")
    long = q.enqueue(sample.sleep, 30)
    wait_until(lambda: (j := backend.get(long.id)) is not None and j.started is not None,
               what="the long job started")  # fmt: skip
    for i in range(3):
        wait_until(lambda: len(parked(backend)) == 1, what="the other slot waits")
        # Scheduled, then moved to the queue: claimed for the waiting slot.
        job = q.enqueue_in(timedelta(milliseconds=50), sample.noop)

        def finished(job_id: str = job.id) -> bool:
            record = backend.get(job_id)
            return record is not None and record.status is JobStatus.FINISHED

        wait_until(finished, timeout=10, what=f"job {i} run beside the long job")
    assert worker.poll() is None


@pytest.mark.slow
def test_a_worker_whose_slot_took_a_job_is_not_parked_again_before_it_knows(
    backend: RedisBackend, workers: WorkerProcesses
) -> None:
    """The enqueue that hands a job ends the worker's parking; a claim of the
    worker before its slot said it took the job (the worker still counts the
    slot as waiting) must not park it again: the next job would be handed to a
    worker whose slot is busy, and wait in its inbox, leased to it, until that
    slot is free or the lease lapses, while other workers idle."""
    worker = workers.start("--concurrency", "1")
    wait_until(lambda: len(parked(backend)) == 1, what="the idle worker parks")
    [slot] = slot_pids(worker.pid)
    os.kill(slot, signal.SIGSTOP)  # its BLPOP takes the job; it says so late
    try:
        first = Queue("normal", backend=backend).enqueue(sample.sleep, 2)
        wait_until(lambda: inbox(backend, "w0") == [], what="the BLPOP took the entry")
        assert parked(backend) == {}
        time.sleep(1.5)  # the worker's periodic claim (RECHECK) comes meanwhile
        assert parked(backend) == {}  # not parked again
    finally:
        os.kill(slot, signal.SIGCONT)
    second = Queue("normal", backend=backend).enqueue(sample.add, 1, 1)

    def finished(job_id: str) -> bool:
        record = backend.get(job_id)
        return record is not None and record.status is JobStatus.FINISHED

    wait_until(lambda: finished(first.id) and finished(second.id), what="both jobs run")
    assert worker.poll() is None
    wait_until(lambda: len(parked(backend)) == 1, what="idle again, parked again")


def test_a_worker_that_unregisters_leaves_no_marker_in_its_inbox(
    clocked_backend: RedisBackend,
) -> None:
    b = clocked_backend
    b._conn.client.rpush(b.keys.inbox("w1"), b"", b"")
    b.unregister_worker("w1")
    assert inbox(b, "w1") == []
