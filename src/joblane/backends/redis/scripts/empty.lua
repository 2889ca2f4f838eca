#!lua flags=allow-oom
-- empty: delete every queued job of a queue (Backend.empty).
--
-- ARGV: prefix, origin, queue. Reply: how many were deleted.

local key = queue_key(nextarg())
local ids = redis.call("ZRANGE", key, 0, -1)
for _, id in ipairs(ids) do remove_job(id) end
redis.call("DEL", key)
if #ids > 0 then publish() end
return #ids
