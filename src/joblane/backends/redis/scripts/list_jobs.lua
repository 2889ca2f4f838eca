#!lua flags=no-writes
-- list_jobs: one page of a queue, or of a registry zset, in score order, ties
-- by id (Backend.list_queued, Backend.list_registry). Reads only.
--
-- ARGV: prefix, origin, kind ("queue" or "zset"), the queue name or the zset's
--   key (without the prefix), start, limit.
-- Reply: {id1, hash1, id2, hash2, ...}.
--
-- A queue's page walks its buckets (keys.py) from the nearer end of the queue
-- (its length is qcount's), skipping whole buckets by their size: from the
-- first bucket up to `start`, or from the last one back over the jobs after
-- the page. The first and the last pages read a few buckets at any length; a
-- page in the middle skips half the queue, O(queue length / BUCKET / 2)
-- bucket sizes (no count of the jobs before a bucket is kept: that would be
-- one more write in every enqueue and claim).

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

-- The index is read a chunk of buckets at a time: a page near an end reads
-- only the chunk it needs, not the whole index (N / BUCKET entries).
local CHUNK = 64
local index = index_key(name)

-- Members `from` to `to` of the sorted set `key` by rank, from its end if `reverse`.
local function zrange(key, from, to, reverse)
  if reverse then return redis.call("ZRANGE", key, from, to, "REV") end
  return redis.call("ZRANGE", key, from, to)
end

-- Call visit(b) for each bucket from the first (or the last, if `reverse`)
-- until it returns true.
local function each_bucket(reverse, visit)
  local from = 0
  while true do
    local chunk = zrange(index, from, from + CHUNK - 1, reverse)
    for _, b in ipairs(chunk) do
      if visit(b) then return end
    end
    if #chunk < CHUNK then return end
    from = from + CHUNK
  end
end

-- Walk the buckets (from the last backwards if `reverse`), skip `skip` jobs,
-- and give the next `left` ids, in the walk's order, to `sink`.
local function walk(reverse, skip, left, sink)
  each_bucket(reverse, function(b)
    local bkey = bucket_key(name, b)
    local size = redis.call("ZCARD", bkey)
    if skip >= size then
      skip = skip - size
      return false
    end
    local ids = zrange(bkey, skip, skip + left - 1, reverse)
    for _, id in ipairs(ids) do sink(id) end
    left = left - #ids
    skip = 0
    return left <= 0
  end)
end

local total = tonumber(redis.call("HGET", QCOUNT, name)) or 0
local after = total - start - limit -- jobs after the page
if after >= start or total <= start then
  -- Forward, skipping `start` jobs (also when qcount says the page is past the
  -- end: the walk then finds what the buckets hold).
  walk(false, start, limit, function(id) job_reply(reply, id) end)
  return reply
end

-- Backward: skip the `after` jobs after the page (0 if it reaches the end),
-- take the page's jobs last first, then reverse them.
local skip = math.max(after, 0)
local taken = {}
walk(true, skip, total - skip - start, function(id) taken[#taken + 1] = id end)
for i = #taken, 1, -1 do job_reply(reply, taken[i]) end
return reply
