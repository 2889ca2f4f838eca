-- Shared by every script: the loader puts this file after the script's
-- shebang line and before the script's own text (see loader.py). It only
-- defines helpers; nothing here runs a command by itself.
--
-- Every script takes the key prefix as ARGV[1] and the origin (the token of
-- the backend object that runs it, carried by the change messages it
-- publishes) as ARGV[2]; its own arguments follow and are read in order with
-- nextarg(). Key names are built here, from the prefix,
-- exactly as keys.py documents them. Numbers arrive as the text Python wrote
-- (repr of a float: exact) and are stored as that text where possible; a
-- number computed here is written by redis.call as %.17g, which reads back
-- exactly too. Never concatenate a float with `..` (that rounds to 14 digits).

local P, ORIGIN = ARGV[1], ARGV[2]
local argi = 2
local function nextarg()
  argi = argi + 1
  return ARGV[argi]
end

-- {{DEFAULT_FAILURE_TTL}} is replaced by the loader (joblane.core.job).
local DEFAULT_FAILURE_TTL = {{DEFAULT_FAILURE_TTL}}
local KEEP_FOREVER = -1

local SEQ = P .. "seq"
local QUEUES = P .. "queues"
local LEASES = P .. "leases"
local SCHEDULED = P .. "scheduled"
local EXPIRY = P .. "expiry"
local CHANNEL = P .. "changes"

local function job_key(id) return P .. "job:" .. id end
local function queue_key(q) return P .. "queue:" .. q end
local function reg_key(q, name) return P .. "reg:" .. q .. ":" .. name end
local function deps_key(id) return P .. "deps:" .. id end

-- The registry (keys.py: reg:<queue>:<name>) that holds a job of each status;
-- queued jobs are in their queue instead (joblane.core.states.REGISTRY_STATUSES).
local REGISTRY = {
  started = "started", deferred = "deferred", canceled = "canceled", stopped = "canceled",
  failed = "failed", finished = "finished", scheduled = "scheduled",
}
local LIVE = { queued = true, scheduled = true, deferred = true, started = true }
local DEPENDENCY_FAILED = { failed = true, canceled = true, stopped = true }

-- Tell the subscribers of the changes channel that jobs changed; the message
-- is the origin, so that the backend object that made the change can skip it.
local function publish()
  redis.call("PUBLISH", CHANNEL, ORIGIN)
end

local function split_ids(text)
  local ids = {}
  if text then
    for id in string.gmatch(text, "[^,]+") do ids[#ids + 1] = id end
  end
  return ids
end

local function expiry(now, ttl)
  if ttl == KEEP_FOREVER then return nil end
  return now + ttl
end

local function failure_ttl(key)
  return tonumber(redis.call("HGET", key, "ft")) or DEFAULT_FAILURE_TTL
end

-- Set field `name` to `value`, or remove it when value is nil (None).
local function set_or_del(key, name, value)
  if value == nil then
    redis.call("HDEL", key, name)
  else
    redis.call("HSET", key, name, value)
  end
end

-- expires_at: the field and the expiry zset move together.
local function set_expiry(id, value)
  if value == nil or value == "" then
    redis.call("HDEL", job_key(id), "x")
    redis.call("ZREM", EXPIRY, id)
  else
    redis.call("HSET", job_key(id), "x", value)
    redis.call("ZADD", EXPIRY, value, id)
  end
end

-- When the job entered its current state (joblane.backends.memory.registry_sort_key):
-- the score of its registry entry, so that a page is oldest first, ties by id.
local function registry_time(key, status)
  local f = redis.call("HMGET", key, "en", "st", "sc", "e", "c")
  if status == "scheduled" and f[3] then return f[3] end
  return f[1] or f[2] or f[3] or f[4] or f[5]
end

-- Put job `id` of queue `q` on its queue: at the front (before every queued
-- job, the latest first) if at_front, else at the back.
local function push(id, q, at_front)
  local n = redis.call("INCR", SEQ)
  if at_front == "1" then n = -n end
  redis.call("ZADD", queue_key(q), n, id)
end

-- Record job `id` (its hash already says `status`) where jobs of that status live.
local function place(id, q, status, at_front)
  local key = job_key(id)
  if status == "queued" then
    push(id, q, at_front)
    return
  end
  local registry = REGISTRY[status]
  if not registry then return end
  if status == "scheduled" then
    local due = redis.call("HGET", key, "sc")
    redis.call("ZADD", SCHEDULED, due, id)
    redis.call("ZADD", reg_key(q, registry), due, id)
    return
  end
  redis.call("ZADD", reg_key(q, registry), registry_time(key, status), id)
  if status == "started" then
    redis.call("ZADD", LEASES, redis.call("HGET", key, "le"), id)
  end
end

-- Take job `id` out of where a job of `status` lives (the inverse of place).
local function unplace(id, q, status)
  if status == "queued" then
    redis.call("ZREM", queue_key(q), id)
    return
  end
  local registry = REGISTRY[status]
  if registry then redis.call("ZREM", reg_key(q, registry), id) end
  if status == "scheduled" then
    redis.call("ZREM", SCHEDULED, id)
  elseif status == "started" then
    redis.call("ZREM", LEASES, id)
  end
end

-- Delete job `id` and every entry that points at it, except the links of the
-- jobs that wait for it (deps:<id>), as the reference backend keeps them.
local function remove_job(id)
  local key = job_key(id)
  local f = redis.call("HMGET", key, "q", "s", "d")
  if not f[2] then return false end
  unplace(id, f[1], f[2])
  redis.call("ZREM", EXPIRY, id)
  for _, dep in ipairs(split_ids(f[3])) do
    redis.call("SREM", deps_key(dep), id)
  end
  redis.call("DEL", key)
  return true
end

-- Remove and return (sorted) the links of the deferred jobs waiting for `id`.
local function pop_dependents(id)
  local key = deps_key(id)
  local ids = redis.call("SMEMBERS", key)
  redis.call("DEL", key)
  table.sort(ids)
  return ids
end

local function all_finished(key)
  for _, dep in ipairs(split_ids(redis.call("HGET", key, "d"))) do
    local status = redis.call("HGET", job_key(dep), "s")
    if status and status ~= "finished" then return false end
  end
  return true
end

-- Queue a job that left its registry for its queue at `now` (a deferred job
-- released, a scheduled job due, an ended job requeued): its ttl counts from now.
local function enter_queue(id, now)
  local key = job_key(id)
  local f = redis.call("HMGET", key, "q", "tt", "af")
  redis.call("HSET", key, "s", "queued", "e", now)
  local ttl = tonumber(f[2])
  if ttl and ttl ~= 0 then set_expiry(id, tonumber(now) + ttl) else set_expiry(id, nil) end
  push(id, f[1], f[3])
end

-- The deferred jobs that waited for `id` and wait for nothing else are queued.
local function release_dependents(id, now)
  for _, dependent in ipairs(pop_dependents(id)) do
    local key = job_key(dependent)
    local f = redis.call("HMGET", key, "q", "s")
    if f[2] == "deferred" and all_finished(key) then
      unplace(dependent, f[1], "deferred")
      enter_queue(dependent, now)
    end
  end
end

-- End a job that has not started as canceled at `now`.
local function cancel_waiting(id, q, status, now)
  local key = job_key(id)
  unplace(id, q, status)
  redis.call("HSET", key, "s", "canceled", "en", now)
  set_expiry(id, expiry(tonumber(now), failure_ttl(key)))
  place(id, q, "canceled")
end

-- The deferred jobs that wait for `id` are canceled, and theirs, recursively.
local function cancel_dependents(id, now)
  local pending = { id }
  while #pending > 0 do
    local current = table.remove(pending)
    for _, dependent in ipairs(pop_dependents(current)) do
      local f = redis.call("HMGET", job_key(dependent), "q", "s")
      if f[2] == "deferred" then
        cancel_waiting(dependent, f[1], "deferred", now)
        pending[#pending + 1] = dependent
      end
    end
  end
end

-- An optional number argument: "" is None.
local function optional(value)
  if value == "" then return nil end
  return value
end

-- An optional text or bytes argument: "" is None, else a one-byte tag then the value.
local function tagged(value)
  if value == "" then return nil end
  return string.sub(value, 2)
end

-- Apply one Settlement (14 arguments, read with nextarg; see records.py
-- settlement_args) if the job is still started under its token. 1 or 0.
local function settle_one(now)
  local id, token, status = nextarg(), nextarg(), nextarg()
  local ended, result, last_result = optional(nextarg()), tagged(nextarg()), tagged(nextarg())
  local retries_left, attempts, scheduled = nextarg(), nextarg(), optional(nextarg())
  local enqueued, expires_at = optional(nextarg()), optional(nextarg())
  local started, lost, front = optional(nextarg()), nextarg(), nextarg()
  local key = job_key(id)
  local f = redis.call("HMGET", key, "s", "lt", "q", "af")
  if f[1] ~= "started" or f[2] ~= token then return 0 end
  local q = f[3]
  unplace(id, q, "started")
  redis.call("HSET", key, "s", status)
  redis.call("HDEL", key, "lt", "le", "cr")
  set_or_del(key, "en", ended)
  set_or_del(key, "r", result)
  set_or_del(key, "lr", last_result)
  set_or_del(key, "rl", retries_left ~= "0" and retries_left or nil)
  set_or_del(key, "a", attempts ~= "0" and attempts or nil)
  set_or_del(key, "la", lost ~= "0" and lost or nil)
  set_or_del(key, "sc", scheduled)
  set_or_del(key, "e", enqueued)
  set_expiry(id, expires_at)
  if status == "queued" then
    redis.call("HDEL", key, "st", "w")
  else
    if started then redis.call("HSET", key, "st", started) end
    if status == "finished" then
      release_dependents(id, now)
    elseif status == "failed" or status == "stopped" then
      cancel_dependents(id, now)
    end
  end
  place(id, q, status, front == "1" and "1" or f[4])
  return 1
end

-- Record one Start (3 arguments: job id, lease token, started) if the job is
-- still started under that token and its start is not recorded yet.
local function start_one()
  local id, token, started = nextarg(), nextarg(), nextarg()
  local key = job_key(id)
  local f = redis.call("HMGET", key, "s", "lt", "st")
  if f[1] == "started" and f[2] == token and not f[3] then
    redis.call("HSET", key, "st", started)
  end
end

-- Settle `count` settlements (their arguments follow), then the starts that
-- follow them (their count, then 3 arguments each): the settlements' flags.
local function settle_all(count, now)
  local flags = {}
  for i = 1, count do flags[i] = settle_one(now) end
  for _ = 1, tonumber(nextarg()) do start_one() end
  return flags
end

-- Whether any settlement applied (one that did not changes nothing, and a
-- change message would wake an idle worker for nothing).
local function any_applied(flags)
  for _, flag in ipairs(flags) do
    if flag == 1 then return true end
  end
  return false
end

-- The job as a reply: its id, then its hash as field, value, field, value...
-- (false, nil to Python, if its key is not a hash: a corrupt record, which
-- records.py marks, rather than an error for the whole reply).
local function job_reply(reply, id)
  reply[#reply + 1] = id
  local hash = redis.pcall("HGETALL", job_key(id))
  if hash.err then hash = false end
  reply[#reply + 1] = hash
end

-- Whether the stored job `id` can be claimed as it is: a field that the claim
-- reads or writes must be as joblane writes it, or HINCRBY or a missing value
-- would stop the script halfway. Returns its expires_at (a number or nil) if
-- it can; else nil, why ("field 'x' of job 'id': ..."), and true if the job
-- cannot even be moved to failed (its key is not a hash, or it has none).
local function claimable(id)
  local f = redis.pcall("HMGET", job_key(id), "q", "a", "x")
  local where = "job '" .. id .. "'"
  if f.err then
    return nil, where .. ": its key is a " .. redis.call("TYPE", job_key(id)).ok
      .. ", not a hash", true
  end
  if not f[1] then
    if redis.call("EXISTS", job_key(id)) == 0 then
      return nil, where .. ": it has no hash (a stale queue entry)", true
    end
    return nil, "field 'queue' of " .. where .. ": missing"
  end
  local a, x = f[2], f[3]
  -- An integer as HINCRBY reads one: no sign but "-", no leading zero.
  if a and not ((a == "0" or string.match(a, "^%-?[1-9]%d*$")) and #a <= 15) then
    return nil, "field 'attempts' of " .. where .. ": '" .. string.sub(a, 1, 40)
      .. "' is not an integer"
  end
  if x and not tonumber(x) then
    return nil, "field 'expires_at' of " .. where .. ": '" .. string.sub(x, 1, 40)
      .. "' is not a number"
  end
  return tonumber(x)
end

-- Whether the keys that a claim from queue `q` writes are sorted sets (or do
-- not exist yet); if not, the reason is added to `problems`.
local function queue_usable(q, problems)
  for _, key in ipairs({ queue_key(q), reg_key(q, "started"), reg_key(q, "failed") }) do
    local kind = redis.call("TYPE", key).ok
    if kind ~= "zset" and kind ~= "none" then
      problems[#problems + 1] = "queue '" .. q .. "' skipped: its key " .. key .. " is a "
        .. kind .. ", not a sorted set"
      return false
    end
  end
  return true
end

-- Take job `id` off queue `q` because of `problem` (from claimable): to
-- failed at `now`, as a job that failed for good, unless it cannot be moved
-- (`unmovable`), then only off the queue. The reason is added to `problems`.
local function set_aside(id, q, now, problem, unmovable, problems)
  redis.call("ZREM", queue_key(q), id)
  if unmovable then
    problems[#problems + 1] = problem .. "; taken off queue '" .. q .. "'"
    return
  end
  local key = job_key(id)
  redis.call("HSET", key, "s", "failed", "en", now, "lr", "CorruptRecordError: " .. problem)
  redis.call("HDEL", key, "lt", "le")
  set_expiry(id, expiry(tonumber(now), failure_ttl(key)))
  place(id, q, "failed")
  cancel_dependents(id, now)
  problems[#problems + 1] = "job " .. id .. " moved to failed: CorruptRecordError: " .. problem
end
