#!lua flags=allow-oom
-- unregister_worker: remove a worker's registration and its claim record.
--
-- ARGV: prefix, origin, worker name.

local name = nextarg()
redis.call("HDEL", P .. "workers", name)
redis.call("ZREM", P .. "workers:expiry", name)
redis.call("DEL", P .. "claim:" .. name)
return 1
