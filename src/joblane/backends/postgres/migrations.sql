-- Migrations of the PostgreSQL schema, one block per version (`-- name: to_N`
-- brings a schema of version N - 1 to version N), run in order by `joblane
-- migrate` (migrate.py), each in its own transaction with the update of
-- `schema_version` that records it. A producer or worker refuses a schema of
-- an earlier version. schema.sql creates the latest version directly; version
-- 1 is the first, so there is no block yet.

-- name: to_2
-- jobs_leases without `id`: as (lease_expires, id) the planner chose it to find
-- a started job by id (settle, renew), a scan of the whole index (which keeps
-- every job claimed since the last VACUUM); without `id` those go through the
-- primary key, and the reaper's expired_leases still uses it.
DROP INDEX IF EXISTS {schema}.jobs_leases;
CREATE INDEX jobs_leases ON {schema}.jobs (lease_expires) WHERE status = 'started'

-- name: to_3
-- jobs_leases on `lease_expires IS NOT NULL` (only a started job has a lease),
-- not `status = 'started'`: with that predicate the planner still read every
-- started job through it to settle a batch (a hash join, not a lookup by the
-- primary key), and the index keeps every job claimed since the last VACUUM.
DROP INDEX IF EXISTS {schema}.jobs_leases;
CREATE INDEX jobs_leases ON {schema}.jobs (lease_expires) WHERE lease_expires IS NOT NULL
