#!lua flags=allow-oom
-- claim: settle, then take up to `limit` queued jobs (Backend.claim).
--
-- ARGV: prefix, origin, now, count, then count settlements (14 arguments each, see
--   settle_one), the starts (their count, then 3 arguments each, see start_one),
--   then worker, lease_expires, limit, starting (how many of the taken jobs begin
--   now, "" for all: the others keep no start time until a Start records it),
--   claim_id, lost_claims (the comma-separated ids of this worker's earlier
--   claims whose reply was lost, or ""), park_until (when the worker waits
--   for a hand-off: how long it stays parked if this claim takes nothing; ""
--   never parks), lease_seconds (of a job handed to it), heard (how many jobs
--   handed to it its slots said they took since its previous claim, "" for no
--   check: see below), queue count, queue names in priority order.
-- Reply: {flags, problems, id1, hash1, id2, hash2, ...}, the jobs handed to
--   the worker and not read first, then the jobs taken in priority order; problems: what was set aside (a queue whose key is not a sorted set,
--   a job that cannot be claimed as stored: see claimable), for the log.
--
-- A taken job loses its end time (a retry's previous attempt) and expiry.
-- Each taken job gets the lease token <claim_id>.<n>. The ids taken are kept
-- in claim:<worker> (one key per worker, overwritten by each claim that takes
-- a job) so that if this reply is lost (the connection dropped after Redis ran
-- the script), the worker's next claim names this claim_id in lost_claims and
-- gets those jobs again, still under their lease, instead of leaving them to
-- lapse and be recovered as lost.

local now = nextarg()
local flags = settle_all(tonumber(nextarg()), now)
local worker, lease_expires, limit = nextarg(), nextarg(), tonumber(nextarg())
local starting = tonumber(nextarg()) or limit
local claim_id, lost_claims = nextarg(), nextarg()
local park_until, lease_seconds, heard = nextarg(), nextarg(), nextarg()
local queue_count = tonumber(nextarg())
local now_number = tonumber(now)
local problems = {}
local reply = { flags, problems }
local taken = {}
local record_key = P .. "claim:" .. worker

if lost_claims ~= "" then
  local record = redis.pcall("GET", record_key)
  if type(record) == "string" then -- else none, or a key of another type
    local sep = string.find(record, ":", 1, true)
    local lost_id = string.sub(record, 1, sep - 1)
    local lost = false
    for _, id in ipairs(split_ids(lost_claims)) do
      if id == lost_id then lost = true end
    end
    if lost then
      for _, id in ipairs(split_ids(string.sub(record, sep + 1))) do
        local f = redis.call("HMGET", job_key(id), "s", "lt")
        -- Still held under that claim's lease: nobody recovered or settled it.
        if f[1] == "started" and string.sub(f[2], 1, #lost_id + 1) == lost_id .. "." then
          taken[#taken + 1] = id
          job_reply(reply, id)
        end
      end
    end
  end
end

-- The first bucket of queue `q` after bucket `b` (the first of all if b is nil).
local function next_bucket(q, b)
  local found
  if b == nil then
    found = redis.call("ZRANGE", index_key(q), 0, 0)
  else
    found = redis.call("ZRANGE", index_key(q), "(" .. b, "+inf", "BYSCORE", "LIMIT", 0, 1)
  end
  return found[1]
end

-- A claim ends the worker's parking (it is awake), and takes what was handed
-- to it that it has not read (its BLPOP was not waiting: a dropped
-- connection): those jobs are its own already, under their own lease tokens.
local words = parked_info(worker)
if words then unpark(worker, words) end
-- Jobs handed to the worker since its previous claim. One its slot took and
-- had not told it of when it sent this claim (`heard` counts those it had) may
-- be running there: this claim does not park it again (the slot is busy).
local handed = tonumber(redis.call("HGET", HANDED, worker)) or 0
if handed > 0 then redis.call("HDEL", HANDED, worker) end
if heard ~= "" and handed > tonumber(heard) then park_until = "" end
local inbox = inbox_key(worker)
local entries = redis.call("LRANGE", inbox, 0, -1)
if #entries > 0 then
  redis.call("DEL", inbox)
  for _, entry in ipairs(entries) do
    if entry == "" then
      -- A marker (handoff.py), pushed while no BLPOP waited: the next wait's.
      redis.call("RPUSH", inbox, entry)
    else
      local id, token = entry_head(entry)
      local f = redis.call("HMGET", job_key(id), "s", "w", "lt")
      -- Still held under that hand-off's lease (not recovered and taken again).
      if f[1] == "started" and f[2] == worker and f[3] == token then job_reply(reply, id) end
    end
  end
end

local seen, order = {}, {}
for _ = 1, queue_count do
  local q = nextarg()
  if not seen[q] and queue_usable(q, problems) then
    seen[q] = true
    order[#order + 1] = q
    local b = #taken < limit and next_bucket(q, nil)
    while b and #taken < limit do
      local bkey = bucket_key(q, b)
      local skipped = 0
      while #taken < limit do
        local ids = redis.pcall("ZRANGE", bkey, skipped, skipped + limit - #taken - 1)
        if ids.err then
          problems[#problems + 1] = "queue '" .. q .. "' skipped: its key " .. bkey .. " is a "
            .. redis.call("TYPE", bkey).ok .. ", not a sorted set"
          b = nil
          break
        end
        if #ids == 0 then break end
        for _, id in ipairs(ids) do
          local expires_at, problem, unmovable = claimable(id)
          if problem then
            set_aside(id, q, b, now, problem, unmovable, problems)
          elseif expires_at and expires_at <= now_number then
            skipped = skipped + 1 -- past its ttl: left in place for purge_expired
          else
            bucket_remove(id, q, b)
            if expires_at then redis.call("ZREM", EXPIRY, id) end
            taken[#taken + 1] = id
            take(id, q, worker, claim_id .. "." .. #taken, lease_expires, now, #taken <= starting)
            job_reply(reply, id)
          end
        end
      end
      if b then b = next_bucket(q, b) end
    end
  end
end

-- Nothing to take for an idle slot: park the worker until park_until (its
-- next claim comes sooner), so that the next job of its queues is handed to it.
if park_until ~= "" and #reply == 2 then
  local info = { lease_seconds }
  for _, q in ipairs(order) do
    local idle = idle_key(q)
    redis.call("ZREMRANGEBYSCORE", idle, "-inf", "(" .. now) -- lapsed parks
    redis.call("ZADD", idle, park_until, worker)
    info[#info + 1] = q
  end
  redis.call("HSET", PARKED, worker, table.concat(info, " "))
end

if #taken > 0 then
  redis.call("SET", record_key, claim_id .. ":" .. table.concat(taken, ","))
end
if #taken > 0 or #problems > 0 or any_applied(flags) then publish() end
return reply
