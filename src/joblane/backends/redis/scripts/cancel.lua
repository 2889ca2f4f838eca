#!lua flags=allow-oom
-- cancel: cancel a job (Backend.cancel; decided by core.rules.cancel). A
-- CANCELABLE job becomes CANCELED at once, and its deferred dependents move as
-- PARENT_ENDED says; a started job gets cancel_requested, and its worker stops it.
--
-- ARGV: prefix, origin, job id, now, retrying ("1" after a lost reply).
-- Reply: {"ok", id, hash}, {"missing"} or {"invalid", status}.

local id, now, retrying = nextarg(), nextarg(), nextarg() == "1"
local key = job_key(id)
local f = redis.call("HMGET", key, "q", "s", "en")
local status = f[2]
if not status then return { "missing" } end
if CANCELABLE[status] then
  end_waiting(id, f[1], status, CANCELED, now)
  dependents_of_ended(id, CANCELED, now)
elseif status == "started" then
  redis.call("HSET", key, "cr", "1")
elseif not (retrying and status == CANCELED and f[3] == now) then
  return { "invalid", status }
end
publish()
local reply = { "ok" }
job_reply(reply, id)
return reply
