#!lua flags=no-writes
-- list_jobs: one page of a queue, or of a registry zset, in score order, ties
-- by id (Backend.list_queued, Backend.list_registry). Reads only.
--
-- ARGV: prefix, origin, kind ("queue" or "zset"), the queue name or the zset's
--   key (without the prefix), start, limit.
-- Reply: {id1, hash1, id2, hash2, ...}.
--
-- A queue's page walks its buckets (keys.py) in order, skipping whole buckets
-- by their size up to `start`: O(queue length / BUCKET) plus the page.

local kind, name = nextarg(), nextarg()
local start, limit = tonumber(nextarg()), tonumber(nextarg())
local reply = {}
if limit <= 0 then return reply end
if kind == "zset" then
  for _, id in ipairs(redis.call("ZRANGE", P .. name, start, start + limit - 1)) do
    job_reply(reply, id)
  end
  return reply
end
local left = limit
for _, b in ipairs(redis.call("ZRANGE", index_key(name), 0, -1)) do
  local bkey = bucket_key(name, b)
  local size = redis.call("ZCARD", bkey)
  if start >= size then
    start = start - size
  else
    local ids = redis.call("ZRANGE", bkey, start, start + left - 1)
    for _, id in ipairs(ids) do job_reply(reply, id) end
    left = left - #ids
    start = 0
    if left <= 0 then break end
  end
end
return reply
