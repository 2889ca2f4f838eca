#!lua flags=allow-oom
-- expired_leases: started jobs whose lease lapsed before now, oldest lapse
-- first, ties by id (Backend.expired_leases).
--
-- ARGV: prefix, origin, now, limit. Reply: {id1, hash1, id2, hash2, ...}.
--
-- One write: a job handed to a worker (enqueue.lua) that is still in that
-- worker's inbox never reached it (the worker died, or stopped, while parked):
-- it leaves the inbox and loses its start time, so that it is given back as a
-- job claimed but not begun, without counting an attempt.

local now, limit = nextarg(), tonumber(nextarg())
local reply = {}
if limit > 0 then
  for _, id in ipairs(redis.call("ZRANGE", LEASES, "-inf", "(" .. now, "BYSCORE", "LIMIT", 0, limit)) do
    local f = redis.pcall("HMGET", job_key(id), "lt", "w")
    if not f.err and f[1] and f[2] and string.sub(f[1], 1, 1) == "h" then
      local inbox = inbox_key(f[2])
      for _, entry in ipairs(redis.call("LRANGE", inbox, 0, -1)) do
        if entry_id(entry) == id then
          redis.call("LREM", inbox, 1, entry)
          redis.call("HDEL", job_key(id), "st")
        end
      end
    end
    job_reply(reply, id)
  end
end
return reply
