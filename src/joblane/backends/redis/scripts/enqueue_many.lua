#!lua
-- enqueue_many: store a batch of new queued jobs, all or nothing: the bulk
-- path of Backend.enqueue, for a batch whose jobs are queued, depend on
-- nothing and have the same hash fields (records.py batch_args). Anything
-- else is enqueue.lua's, and so is this batch if one of its ids is taken.
--
-- ARGV: prefix, origin, unique, retrying (both as enqueue.lua's; unused here:
--   they only matter when an id is taken), count, then the shape shared by
--   every job: n, the n field names, k, the k indexes (1-based) of the fields
--   whose value is each job's own, the n values (those k as ""), then per job:
--   id and its k values. Each job's hash is the n fields in that order, the
--   same as enqueue.lua writes from records.py's job_fields.
-- Reply: {"ok"}: every job stored as passed; {"general"}: nothing stored,
--   because an id is taken (by a stored job, or twice in this batch) or the
--   shape is not that of a new queued job: enqueue.lua decides then.
--
-- The same stored state as enqueue.lua with these jobs, with fewer commands:
-- one EXISTS per 1,000 jobs for the ids, one HSET a job (its bucket `b`
-- last, as push() writes it), one INCRBY of the positions for the batch, per
-- run of jobs in one bucket one variadic ZADD (or, for a new bucket, the few
-- commands of flush_run), one HINCRBY of qcount and one SADD per queue, one
-- PUBLISH. Phase 1 reads and decides, phase 2 writes.

nextarg()
nextarg()
local count, n = tonumber(nextarg()), tonumber(nextarg())
local flat, at = {}, {}
for j = 1, n do
  local name = nextarg()
  flat[2 * j - 1] = name
  at[name] = 2 * j
end
local k = tonumber(nextarg())
local own = {}
for s = 1, k do own[s] = 2 * tonumber(nextarg()) end
for j = 1, n do flat[2 * j] = nextarg() end
local varies = {}
for s = 1, k do varies[own[s]] = true end
if not at.s or varies[at.s] or flat[at.s] ~= "queued" or at.d or not at.q then
  return { "general" }
end

-- Each job's id is at ARGV[off + (i - 1) * (k + 1) + 1], its values after it.
local off, stride = argi, k + 1
local keys, seen, job = {}, {}, P .. "job:"
for i = 1, count do
  local id = ARGV[off + (i - 1) * stride + 1]
  if seen[id] then return { "general" } end
  seen[id] = true
  keys[i] = job .. id
end
for from = 1, count, 1000 do
  if redis.call("EXISTS", unpack(keys, from, math.min(from + 999, count))) > 0 then
    return { "general" }
  end
end

-- Phase 2. Queue positions as push() gives them, one after the other.
local call = redis.call
local first = call("INCRBY", SEQ, count) - count
local qi, fi, xi = at.q, at.af, at.x
local per_queue, queues = {}, {}
local run_key, run_b, run_q, run, m = nil, nil, nil, {}, 0
local expiring, e = {}, 0
-- A run that starts a bucket is written as a listpack in one pass: its
-- entries into a sorted set that one member too long for a listpack makes a
-- skiplist (a ZADD there finds an entry's place in O(log n)), that member
-- taken out, then ZUNIONSTORE of it into the bucket, which Redis writes as a
-- listpack (as ZADD would, by zset-max-listpack-entries and -value). A ZADD
-- into a listpack looks through it for each entry: O(n^2) for the bucket, about
-- 0.3 us a job more. The set lives only during this call (RUN, keys.py).
-- A run that adds to a bucket goes to it highest score first: each entry then
-- goes before the bucket's others, found without a walk through them.
local RUN, LONG = P .. "enqueue_many:run", string.rep("-", 65)
local function flush_run()
  if not run_key then return end
  if m > 2 and call("EXISTS", run_key) == 0 then
    call("DEL", RUN) -- nothing, unless a call that failed part way left it
    call("ZADD", RUN, 0, LONG, unpack(run, 1, m))
    call("ZREM", RUN, LONG)
    call("ZUNIONSTORE", run_key, 1, RUN)
    call("DEL", RUN)
  else
    if m > 2 and run[1] < run[m - 1] then
      local reversed = {}
      for j = 1, m, 2 do
        reversed[m - j], reversed[m - j + 1] = run[j], run[j + 1]
      end
      run = reversed
    end
    call("ZADD", run_key, unpack(run, 1, m))
  end
  call("ZADD", index_key(run_q), run_b, run_b)
end
local b_at = 2 * n + 2
flat[b_at - 1] = "b"
for i = 1, count do
  local at_id = off + (i - 1) * stride + 1
  for s = 1, k do flat[own[s]] = ARGV[at_id + s] end
  local id, q = ARGV[at_id], flat[qi]
  local pos = first + i
  if fi and flat[fi] == "1" then pos = -pos end
  local b = bucket_of(pos)
  flat[b_at] = b
  call("HSET", keys[i], unpack(flat))
  if xi then
    expiring[e + 1], expiring[e + 2] = flat[xi], id
    e = e + 2
  end
  if b ~= run_b or q ~= run_q then
    flush_run()
    run_key, run_b, run_q, run, m = bucket_key(q, b), b, q, {}, 0
  end
  run[m + 1], run[m + 2] = pos, id
  m = m + 2
  local counted = per_queue[q]
  if not counted then
    counted = 0
    queues[#queues + 1] = q
  end
  per_queue[q] = counted + 1
end
flush_run()
for from = 1, e, 2000 do
  call("ZADD", EXPIRY, unpack(expiring, from, math.min(from + 1999, e)))
end
for _, q in ipairs(queues) do
  call("HINCRBY", QCOUNT, q, per_queue[q])
  call("SADD", QUEUES, q)
end
publish()
return { "ok" }
