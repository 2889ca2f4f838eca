"""The key layout: every key joblane writes to Redis, under one prefix.

Every key starts with the prefix (``joblane:`` unless the URL's ``prefix``
option says otherwise), so several apps can share one Redis database, each
with its own prefix. No key has a TTL: jobs expire through ``purge_expired``
(the ``expiry`` zset), so no ``volatile-*`` eviction policy can touch them.
With the prefix ``p:``::

    key                        type     holds
    -------------------------  -------  ------------------------------------------------
    p:job:<id>                 hash     one job (fields below)
    p:qb:<b>:<queue>           zset     bucket b of the queue's queued jobs: those at
                                        positions 128*b to 128*b + 127, score =
                                        position: a counter (p:seq), negated for
                                        at_front jobs (so b < 0 for them); b =
                                        floor(position / 128). Buckets in the
                                        order of b, each in score order, are the
                                        claim order. A bucket holds at most 128
                                        jobs, so Redis keeps it compact (listpack,
                                        ~40 B an entry against ~140 in a skiplist)
                                        and a ZREM in it is cheap
    p:qi:<queue>               zset     the queue's non-empty buckets: member and
                                        score = b
    p:qcount                   hash     queue -> how many jobs are queued in it
    p:reg:<queue>:<registry>   zset     the queue's jobs in one registry (started,
                                        deferred, canceled, failed, finished, scheduled),
                                        score = when the job entered its state (the due
                                        time for scheduled), ties by id: oldest first
    p:leases                   zset     started jobs of every queue, score = lease expiry
    p:scheduled                zset     scheduled jobs of every queue, score = due time
    p:expiry                   zset     jobs that have an expires_at (queued with a ttl,
                                        ended with a finite TTL), score = expires_at
    p:deps:<id>                set      the deferred jobs waiting for job <id>
    p:queues                   set      every queue name used (queue_names checks which
                                        still hold a job)
    p:seq                      string   the counter of queue positions
    p:workers                  hash     worker name -> its WorkerInfo as JSON
    p:workers:expiry           zset     worker name, score = registration expiry
    p:schedules                hash     cron schedule name -> its ScheduleInfo as JSON (the
                                        latest registration; listed until its expires)
    p:ticks                    hash     cron schedule name -> the latest tick claimed for
                                        it (claim_ticks.lua; kept for good)
    p:claim:<worker>           string   the worker's latest claim, "<claim id>:<id>,<id>,..."
                                        (claim.lua: replaying a claim whose reply was lost)
    p:idle:<queue>             zset     workers parked on the queue, waiting for a job to be
                                        handed to them (handoff.py), score = when the
                                        parking lapses
    p:parked                   hash     parked worker -> "<lease seconds> <queue> ..." (its
                                        queues in priority order)
    p:handed                   hash     worker -> jobs handed to it since its latest claim
                                        (enqueue.lua; claim.lua reads and clears it)
    p:inbox:<worker>           list     jobs handed to the worker and not read yet: each
                                        its id and hash as netstrings (handoff.py); a
                                        dead worker's stays until register_worker forgets
                                        it, its jobs recovered by their leases
    p:changes                  channel  pub/sub: one message per change of jobs, whose
                                        text is the origin token of the backend object
    p:version                  string   the version of this layout (layout.py), written
                                        when a backend first opens an empty prefix
    p:enqueue_many:run         zset     only inside one call of enqueue_many.lua: the
                                        entries of a new bucket, before it is written
                                        (never there between calls)

A queue name holds no ``:`` (joblane.core.queues), so the bucket number comes
first in ``qb:<b>:<queue>`` and the key cannot be read two ways.

A job is in exactly one of its queue's buckets or ``reg:<queue>:<registry>`` at
any moment (plus ``leases`` when started, ``scheduled`` when scheduled,
``expiry`` when it has an expires_at): each script moves it in one atomic step.

The job hash has short field names (they are stored once per job); a field
that is absent has the value in brackets::

    q   queue                  f   func_name              p   payload (bytes) [g]
    s   status                 c   created                e   enqueued [None]
    st  started [None]         en  ended [None]           sc  scheduled [None]
    to  job_timeout [180.0]    rt  result_ttl [500]       tt  ttl [None]
    ft  failure_ttl [1 year]   rl  retries_left [0]       ri  retry_intervals, JSON [()]
    a   attempts [0]           m   meta, JSON [{}]        w   worker_name [None]
    r   result [None]          lr  last_job_result [None] d   depends_on, "a,b" [()]
    af  at_front, "1" [False]  x   expires_at [None]      lt  lease_token [None]
    le  lease_expires [None]   cr  cancel_requested, "1" [False]
    la  lost_attempts [0]      by  enqueued_by, JSON [None]
    g   payload's args [p]     b   its queue's bucket, while queued [None]

Compact forms (layout 3), so that a plain job's hash stays in a small
allocation: a payload that is exactly ``{"args":A,"kwargs":{}}`` is stored as
``g`` = A instead of ``p`` (the bytes are rebuilt exactly); ``e`` = "=" means
enqueued when created (the value of ``c``); ``to`` = "" means no timeout
(None), and no ``to`` the default, 180.0. ``b`` gives the bucket of a queued
job in one step (cancel, delete, purge: no scan of the queue). A plain job's
hash (a listpack: bench.tasks.noop(i) on queue "default") then fits in 96
bytes, a smaller allocation class than 112.

``by`` came with no change of the layout version (layout.py): a job without it
reads as before, and an older joblane ignores it (its jobs run without their
enqueuer's identity, as they did then).

``idle:<queue>``, ``parked``, ``handed`` and ``inbox:<worker>`` (hand-off) came with no
change of the layout version: an older joblane neither parks nor hands off.

``schedules`` and ``ticks`` came with no change of the layout version either:
an older joblane runs no schedule and never reads them, and a prefix without
them has no schedule yet.

Numbers are written as Python's ``repr`` (floats round-trip exactly); a number
a script computes is written as ``%.17g``, which reads back exactly too.
"""

from __future__ import annotations

from joblane.core.states import Registry

DEFAULT_PREFIX = "joblane:"


def registry_name(registry: Registry) -> str:
    """``failed_job_registry`` -> ``failed``: the last part of a registry key."""
    return registry.value.removesuffix("_job_registry")


class Keys:
    """The key names of one prefix, for the commands sent without a script."""

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        self.prefix = prefix
        self.leases = prefix + "leases"
        self.scheduled = prefix + "scheduled"
        self.expiry = prefix + "expiry"
        self.queues = prefix + "queues"
        self.qcount = prefix + "qcount"
        self.seq = prefix + "seq"
        self.workers = prefix + "workers"
        self.schedules = prefix + "schedules"
        self.ticks = prefix + "ticks"
        self.changes = prefix + "changes"
        self.version = prefix + "version"

    def job(self, job_id: str) -> str:
        return f"{self.prefix}job:{job_id}"

    def inbox(self, worker: str) -> str:
        return f"{self.prefix}inbox:{worker}"

    def queue_index(self, queue: str) -> str:
        return f"{self.prefix}qi:{queue}"

    def bucket(self, queue: str, bucket: int) -> str:
        return f"{self.prefix}qb:{bucket}:{queue}"

    def registry(self, queue: str, registry: Registry, *, prefixed: bool = True) -> str:
        return f"{self.prefix if prefixed else ''}reg:{queue}:{registry_name(registry)}"
