#!lua flags=allow-oom
-- register_worker: create or refresh a worker's registration (a heartbeat),
-- and forget the workers whose registration expired an hour ago or more,
-- with their claim records, parking and inboxes.
--
-- ARGV: prefix, origin, worker name, expires, heartbeat, the WorkerInfo as JSON.

local name, expires, heartbeat, info = nextarg(), nextarg(), nextarg(), nextarg()
local workers, expiries = P .. "workers", P .. "workers:expiry"
local gone = redis.call("ZRANGE", expiries, "-inf", tonumber(heartbeat) - 3600, "BYSCORE")
for _, old in ipairs(gone) do
  redis.call("HDEL", workers, old)
  redis.call("ZREM", expiries, old)
  redis.call("DEL", P .. "claim:" .. old)
  local words = parked_info(old)
  if words then unpark(old, words) end
  redis.call("HDEL", HANDED, old)
  redis.call("DEL", inbox_key(old)) -- its jobs' leases lapsed an hour ago: recovered
end
redis.call("HSET", workers, name, info)
redis.call("ZADD", expiries, expires, name)
return 1
