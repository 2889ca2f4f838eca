#!lua flags=allow-oom
-- cancel: cancel a job (Backend.cancel). Queued, scheduled and deferred jobs
-- become canceled at once, with their deferred dependents; a started job gets
-- cancel_requested, and its worker stops it.
--
-- ARGV: prefix, origin, job id, now, retrying ("1" after a lost reply).
-- Reply: {"ok", id, hash}, {"missing"} or {"invalid", status}.

local id, now, retrying = nextarg(), nextarg(), nextarg() == "1"
local key = job_key(id)
local f = redis.call("HMGET", key, "q", "s", "en")
local status = f[2]
if not status then return { "missing" } end
if status == "queued" or status == "scheduled" or status == "deferred" then
  cancel_waiting(id, f[1], status, now)
  cancel_dependents(id, now)
elseif status == "started" then
  redis.call("HSET", key, "cr", "1")
elseif not (retrying and status == "canceled" and f[3] == now) then
  return { "invalid", status }
end
publish()
local reply = { "ok" }
job_reply(reply, id)
return reply
