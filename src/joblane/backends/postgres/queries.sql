-- Every statement of the PostgreSQL backend, one named and described block each
-- (`-- name: x`), loaded once by queries.py; a `-- fragment: x` block is text
-- that other blocks include as {x}. {schema} is the backend's schema, filled
-- in (as a quoted identifier) when a backend object is made.
--
-- Parameters are psycopg's: %(name)s. Batches are bound as arrays and read
-- with unnest(), so that a batch is one statement (one round trip), however
-- large. `now` is always a bound value: the backend's clock, read from the
-- database (see backend.py), decided by the caller like every other value.

-- fragment: job_columns
-- The JobRecord fields, in the order records.py decodes them.
id, queue, func_name, payload, status, created, enqueued, started, ended, scheduled,
job_timeout, result_ttl, ttl, failure_ttl, retries_left, retry_intervals, attempts, meta,
worker_name, result, last_job_result, depends_on, at_front, expires_at, lease_token,
lease_expires, cancel_requested, lost_attempts, enqueued_by

-- fragment: claimed_columns
-- job_columns of the updated row (alias j) in a statement that joins another table.
j.id, j.queue, j.func_name, j.payload, j.status, j.created, j.enqueued, j.started,
j.ended, j.scheduled, j.job_timeout, j.result_ttl, j.ttl, j.failure_ttl, j.retries_left,
j.retry_intervals, j.attempts, j.meta, j.worker_name, j.result, j.last_job_result,
j.depends_on, j.at_front, j.expires_at, j.lease_token, j.lease_expires,
j.cancel_requested, j.lost_attempts, j.enqueued_by

-- fragment: job_arrays
-- One array per job column (records.job_arrays), read back as rows. Bound
-- in binary (%(x)b): psycopg's text form of an array quotes and escapes
-- every element in Python, about half the statement's client time.
unnest(
    %(id)b::text[], %(queue)b::text[], %(func_name)b::text[], %(payload)b::bytea[],
    %(status)b::text[], %(created)b::float8[], %(enqueued)b::float8[],
    %(started)b::float8[], %(ended)b::float8[], %(scheduled)b::float8[],
    %(job_timeout)b::float8[], %(result_ttl)b::int8[], %(ttl)b::int8[],
    %(failure_ttl)b::int8[], %(retries_left)b::int8[], %(retry_intervals)b::text[],
    %(attempts)b::int8[], %(meta)b::bytea[], %(worker_name)b::text[], %(result)b::bytea[],
    %(last_job_result)b::text[], %(depends_on)b::text[], %(at_front)b::bool[],
    %(expires_at)b::float8[], %(lease_token)b::text[], %(lease_expires)b::float8[],
    %(cancel_requested)b::bool[], %(lost_attempts)b::int8[], %(enqueued_by)b::bytea[]
) WITH ORDINALITY AS j (
    id, queue, func_name, payload, status, created, enqueued, started, ended, scheduled,
    job_timeout, result_ttl, ttl, failure_ttl, retries_left, retry_intervals, attempts, meta,
    worker_name, result, last_job_result, depends_on, at_front, expires_at, lease_token,
    lease_expires, cancel_requested, lost_attempts, enqueued_by, n
)

-- name: insert_jobs
-- Store a batch of jobs (the arrays of records.job_arrays), each queued one
-- placed at the back of its queue (the front if at_front), in batch order. One
-- statement: a taken id fails it whole (unique_violation), and enqueue takes
-- its careful path.
INSERT INTO {schema}.jobs ({job_columns}, position)
SELECT {job_columns},
    CASE WHEN status <> 'queued' THEN NULL
    WHEN at_front THEN -nextval('{schema}.positions')
    ELSE nextval('{schema}.positions') END
FROM (SELECT * FROM {job_arrays} ORDER BY n) AS j
ORDER BY n

-- name: insert_job
-- Store one job (the parameters of records.job_row), as insert_jobs does a
-- batch: one row of scalar parameters, without the arrays and unnest (their
-- encoding costs a one-job enqueue more than the rest of it). A taken id
-- fails it (unique_violation), and enqueue takes its careful path.
INSERT INTO {schema}.jobs ({job_columns}, position)
VALUES (
    %(id)s::text, %(queue)s::text, %(func_name)s::text, %(payload)s::bytea,
    %(status)s::text, %(created)s::float8, %(enqueued)s::float8,
    %(started)s::float8, %(ended)s::float8, %(scheduled)s::float8,
    %(job_timeout)s::float8, %(result_ttl)s::int8, %(ttl)s::int8,
    %(failure_ttl)s::int8, %(retries_left)s::int8, %(retry_intervals)s::text,
    %(attempts)s::int8, %(meta)s::bytea, %(worker_name)s::text, %(result)s::bytea,
    %(last_job_result)s::text, %(depends_on)s::text, %(at_front)s::bool,
    %(expires_at)s::float8, %(lease_token)s::text, %(lease_expires)s::float8,
    %(cancel_requested)s::bool, %(lost_attempts)s::int8, %(enqueued_by)s::bytea,
    CASE WHEN %(status)s::text <> 'queued' THEN NULL
    WHEN %(at_front)s::bool THEN -nextval('{schema}.positions')
    ELSE nextval('{schema}.positions') END
)

-- name: insert_new_job
-- insert_job for a new job (records.is_new: never run, no dependencies): only
-- the columns a new job sets (records.new_job_row); started, ended,
-- worker_name, result, last_job_result, depends_on, lease_token and
-- lease_expires take their default (NULL), attempts and lost_attempts 0,
-- cancel_requested false. Fewer parameters to dump for every enqueue.
INSERT INTO {schema}.jobs (
    id, queue, func_name, payload, status, created, enqueued, scheduled, job_timeout,
    result_ttl, ttl, failure_ttl, retries_left, retry_intervals, attempts, meta, at_front,
    expires_at, cancel_requested, enqueued_by, position
)
VALUES (
    %(id)s::text, %(queue)s::text, %(func_name)s::text, %(payload)s::bytea,
    %(status)s::text, %(created)s::float8, %(enqueued)s::float8, %(scheduled)s::float8,
    %(job_timeout)s::float8, %(result_ttl)s::int8, %(ttl)s::int8, %(failure_ttl)s::int8,
    %(retries_left)s::int8, %(retry_intervals)s::text, 0, %(meta)s::bytea,
    %(at_front)s::bool, %(expires_at)s::float8, false, %(enqueued_by)s::bytea,
    CASE WHEN %(status)s::text <> 'queued' THEN NULL
    WHEN %(at_front)s::bool THEN -nextval('{schema}.positions')
    ELSE nextval('{schema}.positions') END
)

-- name: insert_new_jobs
-- insert_jobs for a batch of new jobs that share all but their id, payload
-- and times (records.shared_batch: what enqueue_many of one function builds):
-- the shared columns are bound once, as scalars, the rest one array per
-- column (in binary), and the columns of insert_new_job take their defaults.
-- About a fifth of the arrays of insert_jobs: their dumping, in Python, is
-- most of a batch's client time.
INSERT INTO {schema}.jobs (
    id, queue, func_name, payload, status, created, enqueued, scheduled, job_timeout,
    result_ttl, ttl, failure_ttl, retries_left, retry_intervals, attempts, meta, at_front,
    expires_at, cancel_requested, enqueued_by, position
)
SELECT j.id, %(queue)s::text, %(func_name)s::text, j.payload, %(status)s::text, j.created,
    j.enqueued, j.scheduled, %(job_timeout)s::float8, %(result_ttl)s::int8, %(ttl)s::int8,
    %(failure_ttl)s::int8, %(retries_left)s::int8, %(retry_intervals)s::text, 0,
    %(meta)s::bytea, %(at_front)s::bool, j.expires_at, false, %(enqueued_by)s::bytea,
    CASE WHEN %(status)s::text <> 'queued' THEN NULL
    WHEN %(at_front)s::bool THEN -nextval('{schema}.positions')
    ELSE nextval('{schema}.positions') END
FROM (
    SELECT * FROM unnest(
        %(ids)b::text[], %(payloads)b::bytea[], %(created)b::float8[],
        %(enqueued)b::float8[], %(scheduled)b::float8[], %(expires_at)b::float8[]
    ) WITH ORDINALITY AS j (id, payload, created, enqueued, scheduled, expires_at, n)
    ORDER BY n
) AS j
ORDER BY j.n

-- name: claim
-- Take up to %(limit)s queued jobs, queue by queue in priority order (the
-- order of %(queues)s), in one statement: for each queue an index scan of
-- jobs_queued that locks at most %(limit)s rows it can (FOR UPDATE SKIP
-- LOCKED: two claims never wait for each other nor take the same job), then
-- the first %(limit)s of them by (rank, position) become started under a new
-- lease: worker, token (from %(tokens)s, one per taken job, made by the caller
-- so that a claim whose reply was lost can be found again), lease expiry,
-- attempts; the first %(starting)s of them begin now (started = now).
WITH candidates AS (
    SELECT c.id, q.rank, c.position
    FROM unnest(%(queues)s::text[]) WITH ORDINALITY AS q (name, rank)
    CROSS JOIN LATERAL (
        SELECT id, position FROM {schema}.jobs
        WHERE queue = q.name AND status = 'queued'
          AND (expires_at IS NULL OR expires_at > %(now)s)
        ORDER BY position
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    ) AS c
),
taken AS (
    SELECT id, rank, position, row_number() OVER (ORDER BY rank, position) AS n
    FROM candidates ORDER BY rank, position LIMIT %(limit)s
)
UPDATE {schema}.jobs AS j
SET status = 'started', ended = NULL, attempts = j.attempts + 1, worker_name = %(worker)s,
    lease_token = (%(tokens)s::text[])[t.n], lease_expires = %(lease_expires)s,
    expires_at = NULL,
    started = CASE WHEN t.n <= %(starting)s THEN %(now)s::float8 END
FROM taken AS t
WHERE j.id = t.id
RETURNING {claimed_columns}, t.n

-- name: reclaim
-- The jobs a claim whose reply was lost took (by their new lease tokens), as
-- the claim returned them (through jobs_leases: only a started job has a
-- lease, rather than a scan of the table).
SELECT {job_columns}, array_position(%(tokens)s::text[], lease_token)::int8 AS n
FROM {schema}.jobs
WHERE status = 'started' AND lease_expires IS NOT NULL
  AND lease_token = ANY(%(tokens)s::text[])

-- name: settle
-- Apply a batch of Settlements (arrays, one element per settlement), each one
-- only if its job is still started under its token; and record the Starts of
-- the batch (%(start_ids)s, %(start_tokens)s, %(start_times)s) of jobs not
-- settled in it, if still started under that token and not started yet. A
-- settled job given back to its queue loses its worker and start and goes to
-- its queue's back, or front (at_front, or the settlement's front), in the
-- order of the batch (the positions are drawn after the ORDER BY, for those
-- settlements only: `placed`). Returns
-- the ids settled ('s') and those whose start was recorded ('m'). The common
-- path, one statement: if a settled job has deferred dependents, it raises
-- (dependents_wait, SQLSTATE JLDEP) and is undone, and the batch goes through
-- settle_linked instead.
{settle_ctes}
SELECT 's' AS kind, id FROM settled
UNION ALL
SELECT 'm', id FROM marked
UNION ALL
SELECT DISTINCT 'd', {schema}.dependents_wait(dependency) FROM {schema}.job_deps
WHERE dependency IN (SELECT id FROM settled)

-- name: settle_linked
-- settle, in a transaction that then moves the dependents: also returns the
-- settled ids that deferred jobs wait for ('d').
{settle_ctes}
SELECT 's' AS kind, id FROM settled
UNION ALL
SELECT 'm', id FROM marked
UNION ALL
SELECT DISTINCT 'd', dependency FROM {schema}.job_deps
WHERE dependency IN (SELECT id FROM settled)

-- fragment: settle_ctes
-- The settlements and starts of a batch, applied (see settle). The arrays
-- are bound in binary (see job_arrays).
WITH s AS (
    SELECT * FROM unnest(
        %(id)b::text[], %(token)b::text[], %(status)b::text[], %(ended)b::float8[],
        %(result)b::bytea[], %(last_job_result)b::text[], %(retries_left)b::int8[],
        %(attempts)b::int8[], %(scheduled)b::float8[], %(enqueued)b::float8[],
        %(expires_at)b::float8[], %(started)b::float8[], %(lost_attempts)b::int8[],
        %(front)b::bool[], %(mark)b::float8[]
    ) WITH ORDINALITY AS s (id, token, status, ended, result, last_job_result, retries_left,
                            attempts, scheduled, enqueued, expires_at, started, lost_attempts,
                            front, mark, n)
),
placed AS (
    SELECT p.n,
        CASE WHEN p.front OR p.at_front THEN -nextval('{schema}.positions')
        ELSE nextval('{schema}.positions') END AS position
    FROM (
        SELECT s.n, s.front, j.at_front
        FROM s CROSS JOIN LATERAL (
            -- LIMIT 1 keeps this a lookup by the primary key for each
            -- settlement: joined flat, the planner chose to read every
            -- started job through jobs_leases (which also keeps those claimed
            -- since the last VACUUM), a cost that grew as a queue drained.
            SELECT at_front FROM {schema}.jobs
            WHERE id = s.id AND status = 'started' AND lease_token = s.token
            LIMIT 1
        ) AS j
        WHERE s.status = 'queued'
        ORDER BY s.n
    ) AS p
    ORDER BY p.n
),
marked AS (
    UPDATE {schema}.jobs AS j SET started = m.started
    FROM unnest(%(start_ids)b::text[], %(start_tokens)b::text[], %(start_times)b::float8[])
        AS m (id, token, started)
    WHERE j.id = m.id AND j.status = 'started' AND j.lease_token = m.token
      AND j.started IS NULL
    RETURNING j.id
),
settled AS (
    UPDATE {schema}.jobs AS j
    SET status = s.status, ended = s.ended, result = s.result,
        last_job_result = s.last_job_result, retries_left = s.retries_left,
        attempts = s.attempts, scheduled = s.scheduled, enqueued = s.enqueued,
        expires_at = s.expires_at, lost_attempts = s.lost_attempts,
        lease_token = NULL, lease_expires = NULL, cancel_requested = false,
        started = CASE WHEN s.status = 'queued' THEN NULL
                  ELSE coalesce(s.started, j.started, s.mark) END,
        worker_name = CASE WHEN s.status = 'queued' THEN NULL ELSE j.worker_name END,
        position = coalesce(p.position, j.position)
    FROM s LEFT JOIN placed AS p ON p.n = s.n
    WHERE j.id = s.id AND j.status = 'started' AND j.lease_token = s.token
    RETURNING j.id
)

-- name: pop_dependents
-- Remove and return the links of the deferred jobs waiting for %(id)s.
DELETE FROM {schema}.job_deps WHERE dependency = %(id)s RETURNING dependent

-- name: link_dependencies
-- Record that deferred job %(dependent)s waits for each of %(dependencies)s.
INSERT INTO {schema}.job_deps (dependency, dependent)
SELECT unnest(%(dependencies)s::text[]), %(dependent)s
ON CONFLICT DO NOTHING

-- name: forget_links
-- Forget the links of a dependent that is removed or replaced.
DELETE FROM {schema}.job_deps WHERE dependent = %(id)s

-- name: deferred_job
-- A deferred job's dependencies (JSON text), ttl, creation time and failure
-- ttl, locked.
SELECT depends_on, ttl, created, failure_ttl FROM {schema}.jobs
WHERE id = %(id)s AND status = 'deferred' FOR UPDATE

-- name: release_dependent
-- Queue deferred job %(id)s (all its dependencies are done), expiring at
-- %(expires_at)s (core.rules.queue_entry).
UPDATE {schema}.jobs
SET status = 'queued', enqueued = %(now)s, expires_at = %(expires_at)s,
    position = CASE WHEN at_front THEN -nextval('{schema}.positions')
               ELSE nextval('{schema}.positions') END
WHERE id = %(id)s AND status = 'deferred'

-- name: cancel_deferred
-- End deferred job %(id)s because a dependency will never finish: it becomes
-- %(status)s (core.rules.DEPENDENT_OF_FAILED), kept until %(expires_at)s
-- (core.job.expiry of its failure_ttl).
UPDATE {schema}.jobs
SET status = %(status)s, ended = %(now)s, expires_at = %(expires_at)s
WHERE id = %(id)s AND status = 'deferred'

-- name: renew
-- Extend the leases still held (%(ids)s under %(tokens)s); returns each renewed
-- job and its cancel request flag.
UPDATE {schema}.jobs AS j SET lease_expires = %(lease_expires)s
FROM unnest(%(ids)s::text[], %(tokens)s::text[]) AS l (id, token)
WHERE j.id = l.id AND j.status = 'started' AND j.lease_token = l.token
RETURNING j.id, j.cancel_requested

-- name: expired_leases
-- Started jobs whose lease lapsed before %(now)s, oldest lapse first.
SELECT {job_columns} FROM {schema}.jobs
WHERE status = 'started' AND lease_expires < %(now)s
ORDER BY lease_expires, id LIMIT %(limit)s

-- name: due_jobs
-- Scheduled jobs due at or before %(now)s, in due order, locked (a racing
-- promoter skips them), with their ttl and creation time (core.rules.queue_entry).
SELECT id, ttl, created FROM {schema}.jobs
WHERE status = 'scheduled' AND scheduled <= %(now)s
ORDER BY scheduled, id LIMIT %(limit)s
FOR UPDATE SKIP LOCKED

-- name: promote
-- Put scheduled jobs on their queues, in order, each at its %(enqueued)s,
-- expiring at its %(expires_at)s (core.rules.queue_entry).
UPDATE {schema}.jobs AS j
SET status = 'queued', enqueued = p.enqueued, expires_at = p.expires_at,
    position = CASE WHEN j.at_front THEN -nextval('{schema}.positions')
               ELSE nextval('{schema}.positions') END
FROM unnest(%(ids)s::text[], %(enqueued)s::float8[], %(expires_at)s::float8[])
    WITH ORDINALITY AS p (id, enqueued, expires_at, n)
WHERE j.id = p.id AND j.status = 'scheduled'

-- name: next_due
-- The earliest due time of a scheduled job.
SELECT min(scheduled) FROM {schema}.jobs WHERE status = 'scheduled'

-- name: purge_expired
-- Delete up to %(limit)s jobs whose expires_at passed (never a started one),
-- and the links of those that were deferred.
WITH gone AS (
    DELETE FROM {schema}.jobs WHERE id IN (
        SELECT id FROM {schema}.jobs
        WHERE expires_at <= %(now)s AND status <> 'started'
        LIMIT %(limit)s FOR UPDATE SKIP LOCKED
    )
    RETURNING id, depends_on
),
links AS (
    DELETE FROM {schema}.job_deps
    WHERE dependent IN (SELECT id FROM gone WHERE depends_on IS NOT NULL)
)
SELECT count(*) FROM gone

-- name: lock_job
-- One job by id, locked for a change decided in Python.
SELECT {job_columns} FROM {schema}.jobs WHERE id = %(id)s FOR UPDATE

-- name: cancel_job
-- End a job that has not started as core.rules.cancel decided.
UPDATE {schema}.jobs SET status = %(status)s, ended = %(ended)s, expires_at = %(expires_at)s
WHERE id = %(id)s
RETURNING {job_columns}

-- name: request_cancel
-- Ask the worker of a started job to stop it.
UPDATE {schema}.jobs SET cancel_requested = true WHERE id = %(id)s RETURNING {job_columns}

-- name: requeue
-- Put an ended job back on its queue as core.rules.requeue decided (%(enqueued)s,
-- %(expires_at)s), as if enqueued then.
UPDATE {schema}.jobs
SET status = 'queued', enqueued = %(enqueued)s, started = NULL, ended = NULL, result = NULL,
    worker_name = NULL, lease_token = NULL, lease_expires = NULL, cancel_requested = false,
    lost_attempts = 0, expires_at = %(expires_at)s,
    position = CASE WHEN at_front THEN -nextval('{schema}.positions')
               ELSE nextval('{schema}.positions') END
WHERE id = %(id)s
RETURNING {job_columns}

-- name: delete_job
-- Remove a job whatever its state, and its links if it was deferred.
WITH gone AS (
    DELETE FROM {schema}.jobs WHERE id = %(id)s RETURNING id
),
links AS (
    DELETE FROM {schema}.job_deps WHERE dependent IN (SELECT id FROM gone)
)
SELECT count(*) FROM gone

-- name: empty_queue
-- Delete every queued job of %(queue)s.
DELETE FROM {schema}.jobs WHERE queue = %(queue)s AND status = 'queued'

-- name: save_meta
-- Replace a job's meta (JSON bytes, NULL when empty).
UPDATE {schema}.jobs SET meta = %(meta)s WHERE id = %(id)s

-- name: get_job
-- One job by id.
SELECT {job_columns} FROM {schema}.jobs WHERE id = %(id)s

-- name: get_jobs
-- Jobs by id, in no particular order.
SELECT {job_columns} FROM {schema}.jobs WHERE id = ANY(%(ids)s::text[])

-- name: lock_jobs
-- The status and creation time of each job of %(ids)s that exists, locked
-- (the careful path of enqueue decides with them).
SELECT id, status, created FROM {schema}.jobs WHERE id = ANY(%(ids)s::text[])
ORDER BY id FOR UPDATE

-- name: stored_jobs
-- The id and creation time of each job of %(ids)s that exists (was an
-- enqueue whose reply was lost stored?).
SELECT id, created FROM {schema}.jobs WHERE id = ANY(%(ids)s::text[])

-- name: delete_replaced
-- Remove an ended job that a new one with its id replaces, and its links.
WITH gone AS (
    DELETE FROM {schema}.jobs WHERE id = %(id)s RETURNING id
)
DELETE FROM {schema}.job_deps WHERE dependent IN (SELECT id FROM gone)

-- name: queue_names
-- Every queue that holds a job, sorted. A loose index scan (one seek per queue
-- name) over jobs_queued and jobs_registry, instead of reading every row: every
-- status is either queued or in a registry.
WITH RECURSIVE
    queued(name) AS (
        SELECT min(queue) FROM {schema}.jobs WHERE status = 'queued'
        UNION ALL
        SELECT (SELECT min(queue) FROM {schema}.jobs
                WHERE status = 'queued' AND queue > queued.name)
        FROM queued WHERE name IS NOT NULL
    ),
    others(name) AS (
        SELECT min(queue) FROM {schema}.jobs WHERE registry IS NOT NULL
        UNION ALL
        SELECT (SELECT min(queue) FROM {schema}.jobs
                WHERE registry IS NOT NULL AND queue > others.name)
        FROM others WHERE name IS NOT NULL
    )
SELECT name FROM queued WHERE name IS NOT NULL
UNION
SELECT name FROM others WHERE name IS NOT NULL
ORDER BY name

-- name: count_queued
-- How many jobs wait in %(queue)s (reads jobs_queued only).
SELECT count(*) FROM {schema}.jobs WHERE queue = %(queue)s AND status = 'queued'

-- name: list_queued
-- One page of %(queue)s in claim order.
SELECT {job_columns} FROM {schema}.jobs
WHERE queue = %(queue)s AND status = 'queued'
ORDER BY position LIMIT %(limit)s OFFSET %(start)s

-- name: list_queued_from_end
-- One page of %(queue)s in reverse claim order, %(start)s jobs from its end: a
-- backward scan of jobs_queued, for a page nearer the end than the start.
SELECT {job_columns} FROM {schema}.jobs
WHERE queue = %(queue)s AND status = 'queued'
ORDER BY position DESC LIMIT %(limit)s OFFSET %(start)s

-- name: count_registry
-- How many jobs of %(queue)s are in %(registry)s (reads jobs_registry only).
SELECT count(*) FROM {schema}.jobs WHERE queue = %(queue)s AND registry = %(registry)s

-- name: list_registry
-- One page of a registry, oldest first.
SELECT {job_columns} FROM {schema}.jobs
WHERE queue = %(queue)s AND registry = %(registry)s
ORDER BY registry_at, id LIMIT %(limit)s OFFSET %(start)s

-- name: list_registry_from_end
-- One page of a registry, newest first, %(start)s jobs from its end: a backward
-- scan of jobs_registry, for a page nearer the end than the start.
SELECT {job_columns} FROM {schema}.jobs
WHERE queue = %(queue)s AND registry = %(registry)s
ORDER BY registry_at DESC, id DESC LIMIT %(limit)s OFFSET %(start)s

-- name: register_worker
-- Create or refresh a worker's registration.
INSERT INTO {schema}.workers
    (name, hostname, pid, queues, concurrency, started, heartbeat, expires, current_jobs, state)
VALUES
    (%(name)s, %(hostname)s, %(pid)s, %(queues)s, %(concurrency)s, %(started)s,
     %(heartbeat)s, %(expires)s, %(current_jobs)s, %(state)s)
ON CONFLICT (name) DO UPDATE SET
    hostname = excluded.hostname, pid = excluded.pid, queues = excluded.queues,
    concurrency = excluded.concurrency, started = excluded.started,
    heartbeat = excluded.heartbeat, expires = excluded.expires,
    current_jobs = excluded.current_jobs, state = excluded.state

-- name: unregister_worker
-- Remove a worker's registration.
DELETE FROM {schema}.workers WHERE name = %(name)s

-- name: live_workers
-- Workers whose registration has not expired at %(now)s, by name.
SELECT name, hostname, pid, queues, concurrency, started, heartbeat, expires, current_jobs, state
FROM {schema}.workers WHERE expires > %(now)s ORDER BY name

-- name: register_schedules
-- Create or refresh schedules' registrations (arrays, one element each); a
-- schedule's latest tick stays (a new one starts at its registration: the
-- heartbeat). Returns each name with its latest tick.
INSERT INTO {schema}.schedules AS s
    (name, last_tick, func_name, spec, timezone, queue, missed, next_run, worker, heartbeat,
     expires)
SELECT name, heartbeat, func_name, spec, timezone, queue, missed, next_run, worker,
       heartbeat, expires
FROM unnest(
    %(name)s::text[], %(func_name)s::text[], %(spec)s::text[], %(timezone)s::text[],
    %(queue)s::text[], %(missed)s::text[], %(next_run)s::float8[], %(worker)s::text[],
    %(heartbeat)s::float8[], %(expires)s::float8[]
) AS r (name, func_name, spec, timezone, queue, missed, next_run, worker, heartbeat, expires)
ON CONFLICT (name) DO UPDATE SET
    func_name = excluded.func_name, spec = excluded.spec, timezone = excluded.timezone,
    queue = excluded.queue, missed = excluded.missed, next_run = excluded.next_run,
    worker = excluded.worker, heartbeat = excluded.heartbeat, expires = excluded.expires,
    last_tick = coalesce(s.last_tick, excluded.last_tick)
RETURNING name, last_tick

-- name: claim_tick
-- Claim %(tick)s of a schedule if it is later than the latest claimed (a row
-- returned: claimed; none: an equal or later tick was claimed already).
INSERT INTO {schema}.schedules AS s (name, last_tick) VALUES (%(name)s, %(tick)s)
ON CONFLICT (name) DO UPDATE SET last_tick = excluded.last_tick
WHERE s.last_tick IS NULL OR s.last_tick < excluded.last_tick
RETURNING name

-- name: live_schedules
-- Schedules whose registration has not expired at %(now)s, by name.
SELECT name, func_name, spec, timezone, queue, missed, next_run, worker, heartbeat, expires,
       last_tick
FROM {schema}.schedules WHERE expires > %(now)s ORDER BY name

-- name: schema_version
-- The schema's version (no row: being created).
SELECT max(version) FROM {schema}.schema_version

-- name: set_schema_version
-- Record the schema's version.
UPDATE {schema}.schema_version SET version = %(version)s

-- name: first_schema_version
-- Record the version of a new schema.
INSERT INTO {schema}.schema_version (version) SELECT %(version)s
WHERE NOT EXISTS (SELECT 1 FROM {schema}.schema_version)

-- name: lock_schema
-- Serialize the creators and migrators of one schema (a transaction lock).
SELECT pg_advisory_xact_lock(hashtext('joblane.' || %(schema)s))

-- name: notify
-- A notification of the backend's own, on its channel (the check of LISTEN).
SELECT pg_notify(%(channel)s, %(payload)s)

-- name: clock
-- The database's clock: clock_timestamp() (the time of this call), not now()
-- (the start of the transaction), as POSIX seconds.
SELECT extract(epoch FROM clock_timestamp())::float8

-- name: job_statuses
-- The status of each job of %(ids)s that exists.
SELECT id, status FROM {schema}.jobs WHERE id = ANY(%(ids)s::text[])
