-- Every statement of the SQLite backend, one named and described block each
-- (`-- name: x`), loaded once by queries.py. A `-- fragment: x` block is text
-- that other blocks include as {x}.
--
-- Parameters: the hot-path statements (insert_job, claim) take numbered ones
-- (?1, ?2, ...) bound from tuples; the others take named ones (:now).

-- fragment: job_columns
-- The JobRecord fields, in the order records.py decodes them.
id, queue, func_name, payload, status, created, enqueued, started, ended, scheduled,
job_timeout, result_ttl, ttl, failure_ttl, retries_left, retry_intervals, attempts, meta,
worker_name, result, last_job_result, depends_on, at_front, expires_at, lease_token,
lease_expires, cancel_requested, lost_attempts, enqueued_by

-- fragment: queue_low
-- The lowest position a job left the queue of the row being updated from
-- (job_counts' low, see count_queued); 1 for a queue none left.
coalesce((SELECT c.low FROM job_counts AS c WHERE c.queue = jobs.queue AND c.state = 'queued'), 1)

-- fragment: queue_high
-- As queue_low, the highest (0 for a queue none left).
coalesce((SELECT c.high FROM job_counts AS c WHERE c.queue = jobs.queue AND c.state = 'queued'), 0)

-- fragment: queue_front
-- The position before the first its queue has used (the row being updated's
-- queue): before every queued job of the queue and every position a job left
-- it from. SET expressions see the row as it was, so it does not count itself.
(min(coalesce((SELECT min(q.position) FROM jobs AS q
               WHERE q.queue = jobs.queue AND q.status = 'queued'), {queue_low}),
     {queue_low}) - 1)

-- fragment: queue_back
-- The position after the last its queue has used (as queue_front, at the other end).
(max(coalesce((SELECT max(q.position) FROM jobs AS q
               WHERE q.queue = jobs.queue AND q.status = 'queued'), {queue_high}),
     {queue_high}) + 1)

-- fragment: queue_position
-- The position of the row being updated when it enters its queue: first if
-- at_front (like deque.appendleft), else last. A position is never used twice
-- by a queue, so its queued jobs are counted by their first and last
-- positions (count_queued).
CASE WHEN jobs.at_front THEN {queue_front} ELSE {queue_back} END

-- fragment: insert_low
-- queue_low for a new job of queue ?2.
coalesce((SELECT low FROM job_counts WHERE queue = ?2 AND state = 'queued'), 1)

-- fragment: insert_high
-- queue_high for a new job of queue ?2.
coalesce((SELECT high FROM job_counts WHERE queue = ?2 AND state = 'queued'), 0)

-- fragment: insert_front
-- queue_front for a new job of queue ?2.
(min(coalesce((SELECT min(position) FROM jobs WHERE queue = ?2 AND status = 'queued'),
              {insert_low}),
     {insert_low}) - 1)

-- fragment: insert_back
-- The last position queue ?2 has used (queue_back without its + 1).
max(coalesce((SELECT max(position) FROM jobs WHERE queue = ?2 AND status = 'queued'),
             {insert_high}),
    {insert_high})

-- name: insert_job
-- Store one job (?1..?29: the job_columns in order), placed in its queue if queued.
-- The common path of enqueue: one statement per job, no SELECT before it; a
-- duplicate id fails on the primary key and enqueue takes its careful path.
INSERT INTO jobs ({job_columns}, position)
VALUES (
    ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,
    ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29,
    CASE WHEN ?5 <> 'queued' THEN NULL WHEN ?23 THEN {insert_front} ELSE {insert_back} + 1 END
);

-- name: insert_plain_job
-- insert_job for the usual new job: queued, never run, without schedule, ttl,
-- retry intervals, meta or dependencies (records.plain_job_params). Only its
-- set columns are bound (?1..?11), the others take their defaults: sqlite3
-- binds a None or a bytes about ten times slower than a number, and a batch
-- spends a third of its time binding.
INSERT INTO jobs (
    id, queue, func_name, payload, status, created, enqueued, job_timeout, result_ttl,
    failure_ttl, retries_left, at_front, attempts, cancel_requested, position
)
VALUES (
    ?1, ?2, ?3, ?4, 'queued', ?5, ?6, ?7, ?8, ?9, ?10, ?11, 0, 0,
    CASE WHEN ?11 THEN {insert_front} ELSE {insert_back} + 1 END
);

-- name: insert_plain_batch
-- Usual new jobs of one queue (?2) that share their function and options
-- (?3 func_name, ?4 created = enqueued, ?5 job_timeout, ?6 result_ttl,
-- ?7 failure_ttl, ?8 retries_left) in one statement: ?1 is a JSON array of
-- [id, payload] pairs (records.plain_batches). Binding nothing per job and
-- extracting two values makes a big enqueue_many about half again as fast as
-- executemany. Positions follow the queue's last one, in array order; it is
-- read once.
INSERT INTO jobs (
    id, queue, func_name, payload, status, created, enqueued, job_timeout, result_ttl,
    failure_ttl, retries_left, at_front, attempts, cancel_requested, position
)
SELECT
    value ->> 0, ?2, ?3, CAST(value ->> 1 AS BLOB), 'queued', ?4, ?4, ?5, ?6, ?7, ?8, 0, 0, 0,
    (SELECT {insert_back}) + key + 1
FROM json_each(?1);

-- name: claim
-- Take up to ?4 queued jobs, queue by queue in priority order. {claim_queues} is
-- replaced by one claim_queue block per queue, joined by UNION ALL (see
-- queries.claim_statement): each is an index seek on jobs_queued that reads at
-- most ?4 entries, so the cost does not grow with the backlog; only those few
-- candidates are sorted. ?1 now, ?2 worker name, ?3 lease expiry, ?4 limit.
-- No job has begun yet: mark_started records the start of those that begin now.
UPDATE jobs
SET status = 'started', started = NULL, ended = NULL, attempts = attempts + 1, worker_name = ?2,
    lease_token = lower(hex(randomblob(8))), lease_expires = ?3, expires_at = NULL
WHERE rowid IN (
    SELECT rid FROM ({claim_queues}) ORDER BY rank, position LIMIT ?4
)
RETURNING {job_columns}, position;

-- fragment: claim_queue
-- One queue's candidates for claim: its first ?4 queued jobs not past their ttl.
-- {rank} is the queue's priority (0 first), {queue} its parameter (?5, ?6, ...).
SELECT * FROM (
    SELECT {rank} AS rank, position, rowid AS rid FROM jobs
    WHERE queue = {queue} AND status = 'queued' AND (expires_at IS NULL OR expires_at > ?1)
    ORDER BY position LIMIT ?4
)

-- fragment: settle_job
-- Apply one Settlement if the job is still started under its token. A job put
-- back on its queue loses its worker and start time and goes to its queue's end
-- (or front, if at_front or the settlement says :front).
UPDATE jobs
SET status = :status, ended = :ended, result = :result, last_job_result = :last_job_result,
    retries_left = :retries_left, attempts = :attempts, scheduled = :scheduled,
    enqueued = :enqueued, expires_at = :expires_at, lost_attempts = :lost_attempts,
    lease_token = NULL, lease_expires = NULL, cancel_requested = 0,
    started = CASE WHEN :status = 'queued' THEN NULL ELSE coalesce(:started, started) END,
    worker_name = CASE WHEN :status = 'queued' THEN NULL ELSE worker_name END,
    position = CASE WHEN :status <> 'queued' THEN position
        WHEN :front THEN {queue_front}
        ELSE {queue_position} END
WHERE id = :id AND status = 'started' AND lease_token = :token

-- name: settle
-- settle_job, for a Settlement that names the job's queue (the kept counts
-- need it): without RETURNING, which costs SQLite a temporary table.
{settle_job};

-- name: settle_returning
-- settle_job, for a Settlement that does not name the job's queue: returns it.
{settle_job}
RETURNING queue;

-- name: mark_started
-- Record when a claimed job began (a Start), if it is still started under
-- :token and its start is not recorded yet.
UPDATE jobs SET started = :started
WHERE id = :id AND status = 'started' AND lease_token = :token AND started IS NULL;

-- name: linked_dependencies
-- Which of :ids (a JSON array) have deferred jobs waiting for them: one read per
-- settled batch, so that settling a job nothing waits for costs no more.
SELECT DISTINCT dependency FROM job_deps WHERE dependency IN (SELECT value FROM json_each(:ids));

-- name: pop_dependents
-- Remove and return the links of the deferred jobs waiting for :id.
DELETE FROM job_deps WHERE dependency = :id RETURNING dependent;

-- name: link_dependency
-- Record that deferred job :dependent waits for :dependency.
INSERT OR IGNORE INTO job_deps (dependency, dependent) VALUES (:dependency, :dependent);

-- name: forget_links
-- Forget the links of a dependent that is removed or replaced.
DELETE FROM job_deps WHERE dependent = :id;

-- name: release_dependent
-- Queue deferred job :id if each of its dependencies is :done (core.rules.released)
-- or gone. A depends_on that is not JSON (a corrupt row) releases it too, rather
-- than failing the settle of its dependency: the claim then moves it to failed.
-- Returns its ttl, creation time and queue: a job with a ttl gets its
-- expires_at from core.rules.queue_entry (set_expiry).
UPDATE jobs
SET status = 'queued', enqueued = :now, expires_at = NULL, position = {queue_position}
WHERE id = :id AND status = 'deferred' AND NOT EXISTS (
    SELECT 1 FROM json_each(CASE WHEN json_valid(jobs.depends_on) THEN jobs.depends_on END)
    AS dep JOIN jobs AS d ON d.id = dep.value
    WHERE d.status <> :done
)
RETURNING ttl, created, queue;

-- name: set_expiry
-- Set the expires_at of job :id (decided by core.rules).
UPDATE jobs SET expires_at = :expires_at WHERE id = :id;

-- name: cancel_deferred
-- End deferred job :id because a dependency will never finish: it becomes
-- :status (core.rules.dependent_of_failed), kept for its failure_ttl.
UPDATE jobs SET status = :status, ended = :now, expires_at = expiry(:now, failure_ttl)
WHERE id = :id AND status = 'deferred'
RETURNING queue;

-- name: renew
-- Extend a lease still held under :token; returns the cancel request flag.
UPDATE jobs SET lease_expires = :lease_expires
WHERE id = :id AND status = 'started' AND lease_token = :token
RETURNING cancel_requested;

-- name: expired_leases
-- Started jobs whose lease lapsed before :now, oldest lapse first.
SELECT {job_columns} FROM jobs
WHERE status = 'started' AND lease_expires < :now
ORDER BY lease_expires, id LIMIT :limit;

-- name: due_jobs
-- Scheduled jobs due at or before :now, in due order, with their ttl and
-- creation time (core.rules.queue_entry), the rowid jobs_scheduled holds
-- for promote, and their queue.
SELECT rowid, ttl, created, queue FROM jobs
WHERE status = 'scheduled' AND scheduled <= :now
ORDER BY scheduled, id LIMIT :limit;

-- name: promote
-- Put the scheduled job of rowid :rowid (read by due_jobs in the same
-- transaction) on its queue at :enqueued, expiring at :expires_at
-- (core.rules.queue_entry). By rowid: the row is found in the table's own
-- B-tree, without a seek into the primary-key index by a random id.
UPDATE jobs
SET status = 'queued', enqueued = :enqueued, expires_at = :expires_at,
    position = {queue_position}
WHERE rowid = :rowid AND status = 'scheduled';

-- name: next_due
-- The earliest due time of a scheduled job.
SELECT min(scheduled) FROM jobs WHERE status = 'scheduled';

-- name: any_expired
-- Whether purge_expired has work, read before taking the write lock for it.
SELECT 1 FROM jobs WHERE expires_at <= :now AND status <> 'started' LIMIT 1;

-- name: purge_expired
-- Delete up to :limit jobs whose expires_at passed (never a started one).
DELETE FROM jobs WHERE rowid IN (
    SELECT rowid FROM jobs WHERE expires_at <= :now AND status <> 'started' LIMIT :limit
)
RETURNING id, depends_on, queue, status, position;

-- name: cancel_job
-- End a job that has not started as core.rules.cancel decided; returns it and
-- the queue position it had, if queued (the statement leaves it as it was).
UPDATE jobs SET status = :status, ended = :ended, expires_at = :expires_at
WHERE id = :id
RETURNING {job_columns}, position;

-- name: request_cancel
-- Ask the worker of a started job to stop it.
UPDATE jobs SET cancel_requested = 1 WHERE id = :id RETURNING {job_columns};

-- name: requeue
-- Put an ended job back on its queue as core.rules.requeue decided (:enqueued,
-- :expires_at), as if enqueued then.
UPDATE jobs
SET status = 'queued', enqueued = :enqueued, started = NULL, ended = NULL, result = NULL,
    worker_name = NULL, lease_token = NULL, lease_expires = NULL, cancel_requested = 0,
    lost_attempts = 0,
    expires_at = :expires_at, position = {queue_position}
WHERE id = :id
RETURNING {job_columns};

-- name: delete_job
-- Remove a job whatever its state.
DELETE FROM jobs WHERE id = :id RETURNING depends_on, queue, status, position;

-- name: queue_bounds
-- How many jobs wait in :queue, and their first and last positions (before
-- empty_queue deletes them).
SELECT count(*), min(position), max(position) FROM jobs WHERE queue = :queue AND status = 'queued';

-- name: empty_queue
-- Delete every queued job of :queue.
DELETE FROM jobs WHERE queue = :queue AND status = 'queued';

-- name: save_meta
-- Replace a job's meta (JSON, NULL when empty).
UPDATE jobs SET meta = :meta WHERE id = :id;

-- name: get_job
-- One job by id.
SELECT {job_columns} FROM jobs WHERE id = :id;

-- name: get_jobs
-- Jobs by id (:ids is a JSON array), in no particular order.
SELECT {job_columns} FROM jobs WHERE id IN (SELECT value FROM json_each(:ids));

-- name: job_statuses
-- The status of each job of :ids (a JSON array) that exists.
SELECT id, status FROM jobs WHERE id IN (SELECT value FROM json_each(:ids));

-- name: queue_names
-- Every queue that holds a job, sorted. A loose index scan (one seek per queue
-- name) over jobs_queued and jobs_registry, instead of reading every row.
WITH RECURSIVE
    queued(name) AS (
        SELECT min(queue) FROM jobs WHERE status = 'queued'
        UNION ALL
        SELECT (SELECT min(queue) FROM jobs WHERE status = 'queued' AND queue > queued.name)
        FROM queued WHERE name IS NOT NULL
    ),
    others(name) AS (
        SELECT min(queue) FROM jobs WHERE registry IS NOT NULL
        UNION ALL
        SELECT (SELECT min(queue) FROM jobs WHERE registry IS NOT NULL AND queue > others.name)
        FROM others WHERE name IS NOT NULL
    )
SELECT name FROM queued WHERE name IS NOT NULL
UNION
SELECT name FROM others WHERE name IS NOT NULL
ORDER BY name;

-- name: count_queued
-- How many jobs wait in :queue. A job enters a queue at a position never used
-- by it before, just before the first or after the last (queue_position), so
-- the positions from the first to the last the queue has used, held by a
-- queued job or left behind by one (low and high of job_counts), are as many
-- as the jobs that entered it; job_counts' n takes those that left (and, from
-- the migration, the gaps older positions had). An enqueue writes nothing but
-- its row; the count reads both ends of jobs_queued and one row.
SELECT max(coalesce(last, high), high) - min(coalesce(first, low), low) + 1 + n FROM (SELECT
    (SELECT min(position) FROM jobs WHERE queue = :queue AND status = 'queued') AS first,
    (SELECT max(position) FROM jobs WHERE queue = :queue AND status = 'queued') AS last,
    coalesce((SELECT low FROM job_counts WHERE queue = :queue AND state = 'queued'), 1) AS low,
    coalesce((SELECT high FROM job_counts WHERE queue = :queue AND state = 'queued'), 0) AS high,
    coalesce((SELECT n FROM job_counts WHERE queue = :queue AND state = 'queued'), 0) AS n
);

-- name: list_queued
-- One page of :queue in claim order. The page's rowids come from jobs_queued
-- alone; only the rows of the page are read.
SELECT {job_columns}, position FROM jobs WHERE rowid IN (
    SELECT rowid FROM jobs WHERE queue = :queue AND status = 'queued'
    ORDER BY position LIMIT :limit OFFSET :start
);

-- name: count_registry
-- How many jobs of :queue are in :registry: one row of job_counts.
SELECT coalesce((SELECT n FROM job_counts WHERE queue = :queue AND state = :registry), 0);

-- name: list_registry
-- One page of a registry, oldest first. The page's rowids come from
-- jobs_registry alone; only the rows of the page are read.
SELECT {job_columns} FROM jobs WHERE rowid IN (
    SELECT rowid FROM jobs WHERE queue = :queue AND registry = :registry
    ORDER BY registry_at, id LIMIT :limit OFFSET :start
);

-- name: add_count
-- Add ?3 (negative: take) to the count of queue ?1 in state ?2 (counts.py):
-- one of the upserts that end a write transaction. For 'queued', jobs that
-- left the queue from positions ?4 to ?5 (count_queued); NULL otherwise. A
-- new row starts from the bounds an absent one stands for (low 1, high 0).
INSERT INTO job_counts (queue, state, n, low, high) VALUES (?1, ?2, ?3, min(?4, 1), max(?5, 0))
ON CONFLICT (queue, state) DO UPDATE SET n = n + excluded.n, low = min(low, ?4), high = max(high, ?5);

-- name: register_worker
-- Create or refresh a worker's registration.
INSERT OR REPLACE INTO workers
    (name, hostname, pid, queues, concurrency, started, heartbeat, expires, current_jobs, state)
VALUES
    (:name, :hostname, :pid, :queues, :concurrency, :started, :heartbeat, :expires,
     :current_jobs, :state);

-- name: unregister_worker
-- Remove a worker's registration.
DELETE FROM workers WHERE name = :name;

-- name: live_workers
-- Workers whose registration has not expired at :now, by name.
SELECT name, hostname, pid, queues, concurrency, started, heartbeat, expires, current_jobs, state
FROM workers WHERE expires > :now ORDER BY name;

-- name: register_schedule
-- Create or refresh a schedule's registration; its latest tick stays (a new
-- schedule starts at its registration: the heartbeat).
INSERT INTO schedules
    (name, last_tick, func_name, spec, timezone, queue, missed, next_run, worker, heartbeat,
     expires)
VALUES
    (:name, :heartbeat, :func_name, :spec, :timezone, :queue, :missed, :next_run, :worker,
     :heartbeat, :expires)
ON CONFLICT (name) DO UPDATE SET
    func_name = excluded.func_name, spec = excluded.spec, timezone = excluded.timezone,
    queue = excluded.queue, missed = excluded.missed, next_run = excluded.next_run,
    worker = excluded.worker, heartbeat = excluded.heartbeat, expires = excluded.expires,
    last_tick = coalesce(schedules.last_tick, excluded.last_tick);

-- name: last_tick
-- The latest tick claimed for a schedule (no row, or NULL: never).
SELECT last_tick FROM schedules WHERE name = :name;

-- name: claim_tick
-- Claim :tick of a schedule if it is later than the latest claimed (a row
-- changed: claimed; none: an equal or later tick was claimed already).
INSERT INTO schedules (name, last_tick) VALUES (:name, :tick)
ON CONFLICT (name) DO UPDATE SET last_tick = excluded.last_tick
WHERE schedules.last_tick IS NULL OR schedules.last_tick < excluded.last_tick;

-- name: live_schedules
-- Schedules whose registration has not expired at :now, by name.
SELECT name, func_name, spec, timezone, queue, missed, next_run, worker, heartbeat, expires,
       last_tick
FROM schedules WHERE expires > :now ORDER BY name;
