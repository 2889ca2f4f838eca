#!lua
-- enqueue: store a batch of jobs, all or nothing (Backend.enqueue).
--
-- ARGV: prefix, origin, unique ("1"/"0"), retrying ("1"/"0"), now, count, then per job:
--   id, n, then n field/value items: the job's hash as records.py encodes it.
-- Reply: {"duplicate", id} or {"missing", dep} (nothing stored), or
--   {"ok", r1, r2, ...} with one r per job: 0 = stored as passed, "b" = the
--   same id earlier in this batch (unique), or {id, hash} = the job as stored
--   when it differs from the one passed (deferred, canceled, the live job
--   that unique returns, or one stored by an earlier try, below).
--
-- *retrying*: an earlier call with these jobs got no reply, so it may have
-- stored them. A job found with the same id, created time and payload is the
-- one that call stored: it is returned as it is now (queued, started,
-- finished...), neither refused as a duplicate nor replaced because it ended.
-- So a retry never stores a job twice, nor runs it again.
--
-- A queued job is handed to a worker waiting for one (hand_off), if any;
-- the reply still says it was stored as passed (queued): a claim may take a
-- job at any time after its enqueue.
--
-- Phase 1 reads and decides, phase 2 writes: an error leaves nothing behind.
-- The script has no allow-oom flag, so Redis refuses to start it when it is
-- out of memory: an enqueue then raises, it never stores part of a batch.

local unique, retrying = nextarg() == "1", nextarg() == "1"
local now, count = nextarg(), tonumber(nextarg())
local jobs, batch = {}, {}
local reply = { "ok" }

-- Queues that have no parked worker (no hand-off to try for their next jobs).
local no_idle = {}

-- Lease `job`, as this call just stored it (its hash is exactly job.flat), to
-- the parked `worker` (its parked_info `words`) as take() leases a job claimed
-- ahead, and push it to the worker's inbox. The lease is written over the hash
-- in one HSET, and the inbox entry (see handoff.py split_entry) is built from
-- the fields in hand rather than read back.
local function hand_to(worker, words, job)
  local id, f = job.id, job.f
  local key = job_key(id)
  unpark(worker, words)
  local token = "h" .. redis.call("INCR", SEQ) .. ".1"
  -- As text, so that the hash and the entry hold the same digits (%.17g reads back exactly).
  local lease = string.format("%.17g", tonumber(now) + tonumber(words[1]))
  local attempts = tostring((tonumber(f.a) or 0) + 1)
  local lease_fields = { s = "started", w = worker, lt = token, le = lease, a = attempts }
  redis.call("HSET", key, "s", "started", "w", worker, "lt", token, "le", lease, "a", attempts)
  if f.x then redis.call("HDEL", key, "x") end -- a new job has no en, st or b
  redis.call("ZADD", LEASES, lease, id)
  redis.call("ZADD", reg_key(f.q, REGISTRY.started), now, id)
  local parts = { #id .. ":" .. id, #token .. ":" .. token }
  local flat = job.flat
  for j = 1, #flat, 2 do
    local name = flat[j]
    if name ~= "x" and lease_fields[name] == nil then
      parts[#parts + 1] = #name .. ":" .. name
      parts[#parts + 1] = #flat[j + 1] .. ":" .. flat[j + 1]
    end
  end
  for name, value in pairs(lease_fields) do
    parts[#parts + 1] = #name .. ":" .. name
    parts[#parts + 1] = #value .. ":" .. value
  end
  redis.call("RPUSH", inbox_key(worker), table.concat(parts))
  redis.call("HINCRBY", HANDED, worker, 1) -- read by its next claim
end

-- Hand queued `job` of queue `q`, on which no job waits, to a worker
-- parked on `q` (see _common.lua) until after `now` whose higher queues hold no job
-- (strict priority): leased to it, not begun (the worker records its start
-- when a slot begins it, as for a job claimed ahead), and pushed to its
-- inbox. False if there is none: the job goes on its queue.
local function hand_off(job, q)
  -- FIFO: a job already waiting on the queue (a batch, a retry, a scheduled
  -- job come due) goes first, through a claim.
  if no_idle[q] or redis.call("HEXISTS", QCOUNT, q) == 1 then return false end
  local workers = redis.call("ZRANGE", idle_key(q), "(" .. now, "+inf", "BYSCORE", "LIMIT", 0, 4)
  if #workers == 0 then
    no_idle[q] = true
    return false
  end
  for _, worker in ipairs(workers) do
    local words = parked_info(worker)
    if words then
      local higher_empty = true
      for i = 2, #words do
        if words[i] == q then break end
        if redis.call("HEXISTS", QCOUNT, words[i]) == 1 then
          higher_empty = false
          break
        end
      end
      if higher_empty then
        hand_to(worker, words, job)
        return true
      end
    end
  end
  return false
end

for i = 1, count do
  local id, n = nextarg(), tonumber(nextarg())
  local flat, fields = {}, {}
  for j = 1, n, 2 do
    local name, value = nextarg(), nextarg()
    flat[j], flat[j + 1] = name, value
    fields[name] = value
  end
  local job = { id = id, flat = flat, f = fields }
  jobs[i] = job
  local existing
  if batch[id] then
    existing = batch[id].f.s
  else
    existing = redis.call("HGET", job_key(id), "s")
  end
  local earlier = false
  if existing and retrying and not batch[id] then
    -- The payload is in `p`, or in `g` in its compact form (keys.py), as
    -- records.py wrote it for this job: the same form both times.
    local stored = redis.call("HMGET", job_key(id), "c", "p", "g")
    earlier = stored[1] == fields.c and (stored[2] or nil) == fields.p
      and (stored[3] or nil) == fields.g
  end
  if earlier then
    job.skip = true
    local entry = {}
    job_reply(entry, id)
    reply[i + 1] = entry
  elseif existing and LIVE[existing] then
    if not unique then return { "duplicate", id } end
    job.skip = true
    if batch[id] then
      reply[i + 1] = "b"
    else
      local entry = {}
      job_reply(entry, id)
      reply[i + 1] = entry
    end
  else
    for _, dep in ipairs(split_ids(fields.d)) do
      if not batch[dep] and redis.call("EXISTS", job_key(dep)) == 0 then
        return { "missing", dep }
      end
    end
    job.replaces = existing ~= false -- an ended job, or one earlier in this batch
    batch[id] = job
    reply[i + 1] = 0
  end
end

local queues, stored, handed = {}, 0, 0
for i = 1, count do
  local job = jobs[i]
  if not job.skip then
    local id, f = job.id, job.f
    local key = job_key(id)
    stored = stored + 1
    if job.replaces then remove_job(id) end -- an ended job with this id is replaced
    redis.call("HSET", key, unpack(job.flat))
    local status = f.s
    if f.d and status == "queued" then
      -- core.rules.on_enqueue.
      local deps = split_ids(f.d)
      local failed, waiting = false, false
      for _, dep in ipairs(deps) do
        local s = redis.call("HGET", job_key(dep), "s")
        if s and PARENT_ENDED[s] == "cancel" then failed = true end
        if s and s ~= DEPENDENCY_DONE then waiting = true end
      end
      if failed then
        status = DEPENDENT_OF_FAILED
        redis.call("HSET", key, "s", status, "en", f.c)
        f.x = expiry(tonumber(f.c), tonumber(f.ft) or DEFAULT_FAILURE_TTL)
      elseif waiting then
        status = "deferred"
        redis.call("HSET", key, "s", status)
        redis.call("HDEL", key, "e")
        f.x = nil
        for _, dep in ipairs(deps) do redis.call("SADD", deps_key(dep), id) end
      end
    end
    if status == "queued" and hand_off(job, f.q) then
      handed = handed + 1
    else
      if f.x or status ~= f.s then set_expiry(id, f.x) end
      place(id, f.q, status, f.af)
    end
    if status ~= f.s then
      local entry = {}
      job_reply(entry, id)
      reply[i + 1] = entry
    end
    if not queues[f.q] then
      queues[f.q] = true
      redis.call("SADD", QUEUES, f.q)
    end
  end
end
-- A change message wakes the idle workers to claim: not needed for jobs
-- already handed to one.
if stored > handed then publish() end
return reply
