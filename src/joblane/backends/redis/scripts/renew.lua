#!lua flags=allow-oom
-- renew: extend the leases still held (Backend.renew).
--
-- ARGV: prefix, origin, lease_expires, count, then count (job id, lease token) pairs.
-- Reply: {lost ids, ids whose cancellation was asked for}.

local lease_expires, count = nextarg(), tonumber(nextarg())
local lost, cancel = {}, {}
for _ = 1, count do
  local id, token = nextarg(), nextarg()
  local key = job_key(id)
  local f = redis.call("HMGET", key, "s", "lt", "cr")
  if f[1] == "started" and f[2] == token then
    redis.call("HSET", key, "le", lease_expires)
    redis.call("ZADD", LEASES, lease_expires, id)
    if f[3] == "1" then cancel[#cancel + 1] = id end
  else
    lost[#lost + 1] = id
  end
end
return { lost, cancel }
