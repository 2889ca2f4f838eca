#!lua flags=no-writes
-- list_jobs: one page of a queue or registry zset, in score order, ties by
-- id (Backend.list_queued, Backend.list_registry). Reads only.
--
-- ARGV: prefix, origin, the zset's key (without the prefix), start, limit.
-- Reply: {id1, hash1, id2, hash2, ...}.

local key, start, limit = P .. nextarg(), tonumber(nextarg()), tonumber(nextarg())
local reply = {}
if limit > 0 then
  for _, id in ipairs(redis.call("ZRANGE", key, start, start + limit - 1)) do
    job_reply(reply, id)
  end
end
return reply
