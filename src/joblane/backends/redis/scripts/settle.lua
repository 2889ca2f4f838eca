#!lua flags=allow-oom
-- settle: record the end of attempts, as one batch (Backend.settle).
--
-- ARGV: prefix, origin, now, count, then count settlements of 14 arguments each:
--   job id, lease token, status, ended, result, last_job_result, retries_left,
--   attempts, scheduled, enqueued, expires_at, started, lost_attempts, front
--   ("1"/"0"), as settle_one reads them (_common.lua). A missing
--   value is ""; result and last_job_result carry a one-byte tag before the
--   value (records.py), so that an empty value is not taken for None.
-- Reply: one flag per settlement, 1 if applied (the job was still started
--   under that token), else 0.

local now = nextarg()
local flags = settle_all(tonumber(nextarg()), now)
if any_applied(flags) then publish() end
return flags
