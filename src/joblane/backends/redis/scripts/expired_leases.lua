#!lua flags=no-writes
-- expired_leases: started jobs whose lease lapsed before now, oldest lapse
-- first, ties by id (Backend.expired_leases). Reads only.
--
-- ARGV: prefix, origin, now, limit. Reply: {id1, hash1, id2, hash2, ...}.

local now, limit = nextarg(), tonumber(nextarg())
local reply = {}
if limit > 0 then
  for _, id in ipairs(redis.call("ZRANGE", LEASES, "-inf", "(" .. now, "BYSCORE", "LIMIT", 0, limit)) do
    job_reply(reply, id)
  end
end
return reply
