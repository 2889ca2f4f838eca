#!lua flags=allow-oom
-- unregister_worker: remove a worker's registration and its claim record,
-- and end its parking (hand-off).
--
-- ARGV: prefix, origin, worker name.

local name = nextarg()
redis.call("HDEL", P .. "workers", name)
redis.call("ZREM", P .. "workers:expiry", name)
redis.call("DEL", P .. "claim:" .. name)
local words = parked_info(name)
if words then unpark(name, words) end
redis.call("HDEL", HANDED, name)
return 1
