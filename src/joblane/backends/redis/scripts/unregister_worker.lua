#!lua flags=allow-oom
-- unregister_worker: remove a worker's registration and its claim record,
-- and end its parking (hand-off) and the markers left in its inbox.
--
-- ARGV: prefix, origin, worker name.

local name = nextarg()
redis.call("HDEL", P .. "workers", name)
redis.call("ZREM", P .. "workers:expiry", name)
redis.call("DEL", P .. "claim:" .. name)
local words = parked_info(name)
if words then unpark(name, words) end
redis.call("HDEL", HANDED, name)
-- Markers a slot pushed to end its wait early (handoff.py) that no BLPOP read; a
-- job's entry would stay (its lease recovers it) until register_worker's clean-up.
redis.call("LREM", inbox_key(name), 0, "")
return 1
