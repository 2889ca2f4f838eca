-- The SQLite backend's schema, version 5 (PRAGMA user_version = 5; migrations.sql
-- brings a file of an earlier version to it).
--
-- One row per job in `jobs`. Each index below is partial, so that a row is in
-- as few of them as its status needs: a queued job without ttl is written to
-- the table, the primary-key index and `jobs_queued`, nothing else.
--
--   jobs_queued     (queue, position)                 status = 'queued'      claim, list_queued, count
--   jobs_registry   (queue, registry, registry_at, id) registry IS NOT NULL   registry pages and counts
--   jobs_scheduled  (scheduled, id)                   status = 'scheduled'   promote_due, next_due
--   jobs_leases     (lease_expires, id)               status = 'started'     expired_leases
--   jobs_expiry     (expires_at)                      expires_at IS NOT NULL purge_expired
--
-- `position` orders a queue: at_front jobs take min - 1, the others max + 1
-- of the positions their queue has used when they enter it (those of its
-- queued jobs and, kept in job_counts, those jobs left it from), so that a
-- queue never uses a position twice.
-- `job_counts` holds how many jobs each queue has in each state, kept by the
-- transactions that change them (counts.py); queued jobs are counted by
-- their queue's first and last positions;
-- `job_deps` holds the links of deferred jobs to the jobs they wait for;
-- `schedules` the cron schedules (their latest claimed tick, their registration).

-- name: create_jobs
-- Every JobRecord field, in its order, plus the queue position. Booleans are 0/1;
-- retry_intervals, meta, depends_on and enqueued_by are JSON (NULL when empty): SQL reads
-- depends_on with json_each.
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY NOT NULL,
    queue TEXT NOT NULL,
    func_name TEXT NOT NULL,
    payload BLOB NOT NULL,
    status TEXT NOT NULL CHECK (status IN (
        'queued', 'scheduled', 'deferred', 'started',
        'finished', 'failed', 'canceled', 'stopped'
    )),
    created REAL NOT NULL,
    enqueued REAL,
    started REAL,
    ended REAL,
    scheduled REAL,
    job_timeout REAL,
    result_ttl INTEGER NOT NULL,
    ttl INTEGER,
    failure_ttl INTEGER NOT NULL,
    retries_left INTEGER NOT NULL,
    retry_intervals TEXT,
    attempts INTEGER NOT NULL,
    meta BLOB,
    worker_name TEXT,
    result BLOB,
    last_job_result TEXT,
    depends_on TEXT,
    at_front INTEGER NOT NULL,
    expires_at REAL,
    lease_token TEXT,
    lease_expires REAL,
    cancel_requested INTEGER NOT NULL,
    position INTEGER,
    lost_attempts INTEGER NOT NULL DEFAULT 0,
    enqueued_by BLOB,
    -- The registry a status belongs to (joblane.core.states.STATUS_REGISTRY,
    -- by its first status); queued jobs are in none.
    registry TEXT GENERATED ALWAYS AS (
        CASE status WHEN 'queued' THEN NULL WHEN 'stopped' THEN 'canceled' ELSE status END
    ) VIRTUAL,
    -- When the job entered its current state: memory.registry_sort_key.
    registry_at REAL GENERATED ALWAYS AS (
        CASE WHEN status = 'scheduled' AND scheduled IS NOT NULL THEN scheduled
        ELSE coalesce(ended, started, scheduled, enqueued, created) END
    ) VIRTUAL
);

-- name: create_jobs_queued
-- Claim order of each queue: an index seek per queue, however long the backlog.
CREATE INDEX IF NOT EXISTS jobs_queued ON jobs (queue, position) WHERE status = 'queued';

-- name: create_jobs_registry
-- Registry pages (oldest first) and counts, for every status but queued.
CREATE INDEX IF NOT EXISTS jobs_registry ON jobs (queue, registry, registry_at, id)
WHERE registry IS NOT NULL;

-- name: create_jobs_scheduled
-- Due order of scheduled jobs, across queues.
CREATE INDEX IF NOT EXISTS jobs_scheduled ON jobs (scheduled, id) WHERE status = 'scheduled';

-- name: create_jobs_leases
-- Started jobs by lease expiry, to find those whose worker died.
CREATE INDEX IF NOT EXISTS jobs_leases ON jobs (lease_expires, id) WHERE status = 'started';

-- name: create_jobs_expiry
-- Jobs that housekeeping deletes at some point.
CREATE INDEX IF NOT EXISTS jobs_expiry ON jobs (expires_at) WHERE expires_at IS NOT NULL;

-- name: create_job_counts
-- How many jobs each queue holds in each state: the registry (the `registry`
-- column) of the others, or 'queued'. Every write transaction that moves or
-- deletes jobs, or stores jobs other than queued ones, adds what it changed,
-- one upsert per (queue, state) (counts.py), so count_registry reads one row
-- instead of counting an index range. A row may hold 0. The 'queued' row
-- holds, for count_queued, the jobs that left the queue (negative `n`) and
-- the lowest and highest positions they left from (`low`, `high`); NULL in
-- the other rows.
CREATE TABLE IF NOT EXISTS job_counts (
    queue TEXT NOT NULL,
    state TEXT NOT NULL,
    n INTEGER NOT NULL,
    low INTEGER,
    high INTEGER,
    PRIMARY KEY (queue, state)
) WITHOUT ROWID;

-- name: create_job_deps
-- One row per (dependency, deferred dependent) link, as the memory backend's
-- _dependents map: added when a job is stored deferred, removed when its
-- dependency finishes or fails, or when the dependent is removed.
CREATE TABLE IF NOT EXISTS job_deps (
    dependency TEXT NOT NULL,
    dependent TEXT NOT NULL,
    PRIMARY KEY (dependency, dependent)
) WITHOUT ROWID;

-- name: create_job_deps_dependent
-- Forgetting the links of a removed dependent.
CREATE INDEX IF NOT EXISTS job_deps_dependent ON job_deps (dependent);

-- name: create_workers
-- Worker registrations; queues and current_jobs are JSON arrays.
CREATE TABLE IF NOT EXISTS workers (
    name TEXT PRIMARY KEY NOT NULL,
    hostname TEXT NOT NULL,
    pid INTEGER NOT NULL,
    queues TEXT NOT NULL,
    concurrency INTEGER NOT NULL,
    started REAL NOT NULL,
    heartbeat REAL NOT NULL,
    expires REAL NOT NULL,
    current_jobs TEXT NOT NULL,
    state TEXT NOT NULL
);

-- name: create_schedules
-- One row per cron schedule, by name: `last_tick`, the latest tick claimed
-- (kept for good: a tick at or before it is never enqueued again), and the
-- latest registration by a worker that runs it (listed until `expires`).
CREATE TABLE IF NOT EXISTS schedules (
    name TEXT PRIMARY KEY NOT NULL,
    last_tick REAL,
    func_name TEXT,
    spec TEXT,
    timezone TEXT,
    queue TEXT,
    missed TEXT,
    next_run REAL,
    worker TEXT,
    heartbeat REAL,
    expires REAL
);
