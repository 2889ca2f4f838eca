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
-- Kept counts: the job_counts table and its triggers (as in schema.sql), filled
-- by counting the jobs already there once (from scratch: whatever rows the
-- table may hold are replaced).
CREATE TABLE IF NOT EXISTS job_counts (
    queue TEXT NOT NULL,
    state TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (queue, state)
) WITHOUT ROWID;

CREATE TRIGGER IF NOT EXISTS job_counts_insert AFTER INSERT ON jobs
BEGIN
    INSERT INTO job_counts (queue, state, n)
    VALUES (NEW.queue, coalesce(NEW.registry, 'queued'), 1)
    ON CONFLICT (queue, state) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER IF NOT EXISTS job_counts_update AFTER UPDATE OF queue, status ON jobs
WHEN NEW.queue IS NOT OLD.queue OR NEW.registry IS NOT OLD.registry
BEGIN
    INSERT INTO job_counts (queue, state, n)
    VALUES (OLD.queue, coalesce(OLD.registry, 'queued'), -1),
           (NEW.queue, coalesce(NEW.registry, 'queued'), 1)
    ON CONFLICT (queue, state) DO UPDATE SET n = n + excluded.n;
END;

CREATE TRIGGER IF NOT EXISTS job_counts_delete AFTER DELETE ON jobs
BEGIN
    UPDATE job_counts SET n = n - 1
    WHERE queue = OLD.queue AND state = coalesce(OLD.registry, 'queued');
END;

DELETE FROM job_counts;

INSERT INTO job_counts (queue, state, n)
SELECT queue, coalesce(registry, 'queued'), count(*) FROM jobs GROUP BY 1, 2;
