#!lua
-- claim_ticks: claim cron ticks and store the job of each one claimed, in one
-- atomic step (Backend.claim_ticks). The latest claimed tick of each schedule
-- is kept for good in the `ticks` hash (keys.py).
--
-- ARGV: prefix, origin, count, then per claim: schedule name, tick, job id, n,
--   then n field/value items: the job's hash as records.py encodes it.
-- Reply: one flag per claim: 1 = claimed (its job stored, unless a live job
--   has its id), 0 = a tick as late or later was claimed for it already.
-- No allow-oom flag: out of memory, Redis refuses the script, nothing is claimed.

local TICKS = P .. "ticks"
local count = tonumber(nextarg())
local reply, stored = {}, false

for i = 1, count do
  local name, tick, id, n = nextarg(), nextarg(), nextarg(), tonumber(nextarg())
  local flat, f = {}, {}
  for j = 1, n, 2 do
    local field, value = nextarg(), nextarg()
    flat[j], flat[j + 1] = field, value
    f[field] = value
  end
  local last = redis.call("HGET", TICKS, name)
  if last and tonumber(last) >= tonumber(tick) then
    reply[i] = 0
  else
    redis.call("HSET", TICKS, name, tick)
    reply[i] = 1
    local existing = redis.call("HGET", job_key(id), "s")
    if not (existing and LIVE[existing]) then
      remove_job(id) -- an ended job with this id is replaced, as enqueue does
      redis.call("HSET", job_key(id), unpack(flat))
      if f.x then set_expiry(id, f.x) end
      place(id, f.q, f.s, f.af)
      redis.call("SADD", QUEUES, f.q)
      stored = true
    end
  end
end
if stored then publish() end
return reply
