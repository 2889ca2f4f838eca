-- The PostgreSQL backend's schema, version 3 (the row of `schema_version`;
-- migrations.sql brings a schema of an earlier version to it). Every name is
-- qualified by {schema}: the schema of the URL (`?schema=`, default joblane),
-- so that several apps share one database. Each statement is idempotent.
--
-- One row per job in `jobs`. Partial indexes keep a row in as few of them as
-- its status needs:
--
--   jobs_queued     (queue, position)                  status = 'queued'      claim, list_queued, count
--   jobs_registry   (queue, registry, registry_at, id) registry IS NOT NULL   registry pages and counts
--   jobs_scheduled  (scheduled, id)                    status = 'scheduled'   promote_due, next_due
--   jobs_leases     (lease_expires)                    lease_expires not null expired_leases
--   jobs_expiry     (expires_at)                       expires_at IS NOT NULL purge_expired
--   jobs_func_name  (func_name)                                               search by function
--   (the primary key)                                                         search by job id
--
-- `position` orders a queue: nextval of `positions` when a job enters its
-- queue at the back, minus nextval at the front (at_front, given back first):
-- deque order without reading the queue, and no two writers ever contend on
-- a max() or min().

-- name: create_schema
-- The schema itself.
CREATE SCHEMA IF NOT EXISTS {schema}

-- name: create_positions
-- Queue positions (see above).
CREATE SEQUENCE IF NOT EXISTS {schema}.positions AS bigint

-- name: create_jobs
-- Every JobRecord field, in its order, plus the queue position. retry_intervals and
-- depends_on are JSON text, meta and enqueued_by JSON bytes (NULL when empty), as
-- the SQLite backend stores them: one decoder for both (sqlite/records.py).
CREATE TABLE IF NOT EXISTS {schema}.jobs (
    id text PRIMARY KEY,
    queue text NOT NULL,
    func_name text NOT NULL,
    payload bytea NOT NULL,
    status text NOT NULL CHECK (status IN (
        'queued', 'scheduled', 'deferred', 'started',
        'finished', 'failed', 'canceled', 'stopped'
    )),
    created double precision NOT NULL,
    enqueued double precision,
    started double precision,
    ended double precision,
    scheduled double precision,
    job_timeout double precision,
    result_ttl bigint NOT NULL,
    ttl bigint,
    failure_ttl bigint NOT NULL,
    retries_left bigint NOT NULL,
    retry_intervals text,
    attempts bigint NOT NULL,
    meta bytea,
    worker_name text,
    result bytea,
    last_job_result text,
    depends_on text,
    at_front boolean NOT NULL,
    expires_at double precision,
    lease_token text,
    lease_expires double precision,
    cancel_requested boolean NOT NULL,
    lost_attempts bigint NOT NULL DEFAULT 0,
    enqueued_by bytea,
    position bigint,
    -- The registry a status belongs to (joblane.core.states.STATUS_REGISTRY,
    -- by its first status); queued jobs are in none.
    registry text GENERATED ALWAYS AS (
        CASE status WHEN 'queued' THEN NULL WHEN 'stopped' THEN 'canceled' ELSE status END
    ) STORED,
    -- When the job entered its current state: memory.registry_sort_key.
    registry_at double precision GENERATED ALWAYS AS (
        CASE WHEN status = 'scheduled' AND scheduled IS NOT NULL THEN scheduled
        ELSE coalesce(ended, started, scheduled, enqueued, created) END
    ) STORED
)

-- name: create_jobs_queued
-- Claim order of each queue: an index scan per queue, however long the backlog.
CREATE INDEX IF NOT EXISTS jobs_queued ON {schema}.jobs (queue, position)
WHERE status = 'queued'

-- name: create_jobs_registry
-- Registry pages (oldest first) and counts, for every status but queued.
CREATE INDEX IF NOT EXISTS jobs_registry ON {schema}.jobs (queue, registry, registry_at, id)
WHERE registry IS NOT NULL

-- name: create_jobs_scheduled
-- Due order of scheduled jobs, across queues.
CREATE INDEX IF NOT EXISTS jobs_scheduled ON {schema}.jobs (scheduled, id)
WHERE status = 'scheduled'

-- name: create_jobs_leases
-- Started jobs by lease expiry, to find those whose worker died (only a
-- started job has a lease). Not `id` as a second column, and not `status =
-- 'started'` as its predicate: the planner would then use it to find started
-- jobs by id (settle, renew), reading the whole index, which also keeps every
-- job claimed since the last VACUUM, instead of the primary key.
CREATE INDEX IF NOT EXISTS jobs_leases ON {schema}.jobs (lease_expires)
WHERE lease_expires IS NOT NULL

-- name: create_jobs_expiry
-- Jobs that housekeeping deletes at some point.
CREATE INDEX IF NOT EXISTS jobs_expiry ON {schema}.jobs (expires_at)
WHERE expires_at IS NOT NULL

-- name: create_jobs_func_name
-- Search by function name.
CREATE INDEX IF NOT EXISTS jobs_func_name ON {schema}.jobs (func_name)

-- name: create_job_deps
-- One row per (dependency, deferred dependent) link: added when a job is stored
-- deferred, removed when its dependency ends or the dependent is removed.
CREATE TABLE IF NOT EXISTS {schema}.job_deps (
    dependency text NOT NULL,
    dependent text NOT NULL,
    PRIMARY KEY (dependency, dependent)
)

-- name: create_job_deps_dependent
-- Forgetting the links of a removed dependent.
CREATE INDEX IF NOT EXISTS job_deps_dependent ON {schema}.job_deps (dependent)

-- name: create_workers
-- Worker registrations; queues and current_jobs are JSON arrays.
CREATE TABLE IF NOT EXISTS {schema}.workers (
    name text PRIMARY KEY,
    hostname text NOT NULL,
    pid bigint NOT NULL,
    queues text NOT NULL,
    concurrency bigint NOT NULL,
    started double precision NOT NULL,
    heartbeat double precision NOT NULL,
    expires double precision NOT NULL,
    current_jobs text NOT NULL,
    state text NOT NULL
)

-- name: create_schedules
-- One row per cron schedule: `last_tick`, the latest tick claimed (kept for
-- good), and the latest registration by a worker that runs it.
CREATE TABLE IF NOT EXISTS {schema}.schedules (
    name text PRIMARY KEY,
    last_tick double precision,
    func_name text,
    spec text,
    timezone text,
    queue text,
    missed text,
    next_run double precision,
    worker text,
    heartbeat double precision,
    expires double precision
)

-- name: create_notify
-- Wakes the listeners of this schema's channel ("joblane.<schema>") when jobs
-- were stored or changed status, once per statement (and NOTIFY folds the
-- same payload within a transaction into one). The payload is the writer's
-- application_name: a backend object ignores its own (it woke its waiters at
-- once, without the round trip).
CREATE OR REPLACE FUNCTION {schema}.notify_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM 1 FROM changed LIMIT 1;
    ELSE
        PERFORM 1 FROM changed AS n JOIN previous AS o ON o.id = n.id
        WHERE n.status IS DISTINCT FROM o.status LIMIT 1;
    END IF;
    IF FOUND THEN
        PERFORM pg_notify('joblane.' || TG_TABLE_SCHEMA, current_setting('application_name'));
    END IF;
    RETURN NULL;
END
$$

-- name: create_dependents_wait
-- Called by settle's common path for a settled job that deferred jobs wait
-- for: it raises (SQLSTATE JLDEP), the statement is undone, and the batch is
-- settled again in a transaction that moves the dependents (backend.py). So a
-- batch without dependents is one statement, one round trip.
CREATE OR REPLACE FUNCTION {schema}.dependents_wait(job_id text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'deferred jobs wait for job %', job_id USING ERRCODE = 'JLDEP';
END
$$

-- name: create_inserted_trigger
-- The trigger of stored jobs.
CREATE OR REPLACE TRIGGER jobs_inserted AFTER INSERT ON {schema}.jobs
REFERENCING NEW TABLE AS changed
FOR EACH STATEMENT EXECUTE FUNCTION {schema}.notify_change()

-- name: create_updated_trigger
-- The trigger of status changes.
CREATE OR REPLACE TRIGGER jobs_updated AFTER UPDATE ON {schema}.jobs
REFERENCING NEW TABLE AS changed OLD TABLE AS previous
FOR EACH STATEMENT EXECUTE FUNCTION {schema}.notify_change()

-- name: create_schema_version
-- The schema's version: one row.
CREATE TABLE IF NOT EXISTS {schema}.schema_version (version integer NOT NULL)
