#!lua flags=allow-oom
-- empty: delete every queued job of a queue (Backend.empty), bucket by bucket.
--
-- ARGV: prefix, origin, queue. Reply: how many were deleted.

local q = nextarg()
local index = index_key(q)
local gone = 0
for _, b in ipairs(redis.call("ZRANGE", index, 0, -1)) do
  local bkey = bucket_key(q, b)
  local ids = redis.call("ZRANGE", bkey, 0, -1)
  for _, id in ipairs(ids) do remove_job(id) end
  gone = gone + #ids
  redis.call("DEL", bkey)
end
redis.call("DEL", index)
redis.call("HDEL", QCOUNT, q)
if gone > 0 then publish() end
return gone
