#!lua
-- save_meta: replace a job's meta (Backend.save_meta).
--
-- ARGV: prefix, origin, job id, meta as JSON ("" for an empty meta).
-- Reply: 1, or 0 if there is no such job.

local id, meta = nextarg(), nextarg()
local key = job_key(id)
if redis.call("EXISTS", key) == 0 then return 0 end
set_or_del(key, "m", meta ~= "" and meta or nil)
return 1
