-- Migrations of the SQLite schema, one block per version (`-- name: to_N`
-- brings a file of version N - 1 to version N), run in order by `joblane
-- migrate` (migrate.py), each in its own transaction with the `PRAGMA
-- user_version = N` that records it. A producer or worker refuses a file of an
-- earlier version. schema.sql creates the latest version directly.

-- name: to_2
-- Attempts lost with their worker process are counted apart from the others.
ALTER TABLE jobs ADD COLUMN lost_attempts INTEGER NOT NULL DEFAULT 0;

-- name: to_3
-- Who enqueued a job (joblane.identity): JSON {"user_id", "context"}, NULL for no one.
ALTER TABLE jobs ADD COLUMN enqueued_by BLOB;

-- name: to_4
-- Cron schedules: the latest tick claimed for each (kept for good, so that no
-- tick is enqueued twice) and the registration of the workers that run it.
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

-- name: to_5
-- Kept counts: the job_counts table (as in schema.sql), filled by counting the
-- jobs already there once (a queue's 'queued' row: the gaps between its first
-- and last positions, as jobs that left it). From then on joblane's write
-- transactions keep it.
CREATE TABLE IF NOT EXISTS job_counts (
    queue TEXT NOT NULL,
    state TEXT NOT NULL,
    n INTEGER NOT NULL,
    low INTEGER,
    high INTEGER,
    PRIMARY KEY (queue, state)
) WITHOUT ROWID;

DELETE FROM job_counts;

INSERT INTO job_counts (queue, state, n)
SELECT queue, registry, count(*) FROM jobs WHERE registry IS NOT NULL GROUP BY 1, 2;

INSERT INTO job_counts (queue, state, n, low, high)
SELECT queue, 'queued', count(*) - (max(position) - min(position) + 1),
       min(position), max(position)
FROM jobs WHERE status = 'queued' AND position IS NOT NULL GROUP BY queue;
