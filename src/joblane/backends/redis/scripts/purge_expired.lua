#!lua flags=allow-oom
-- purge_expired: delete up to `limit` jobs whose expires_at passed
-- (Backend.purge_expired). Started jobs are never in the expiry zset.
--
-- ARGV: prefix, origin, now, limit. Reply: how many were deleted.

local now, limit = nextarg(), tonumber(nextarg())
local gone = 0
if limit > 0 then
  for _, id in ipairs(redis.call("ZRANGE", EXPIRY, "-inf", now, "BYSCORE", "LIMIT", 0, limit)) do
    if remove_job(id) then gone = gone + 1 else redis.call("ZREM", EXPIRY, id) end
  end
end
if gone > 0 then publish() end
return gone
