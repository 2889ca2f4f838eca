#!lua flags=allow-oom
-- requeue: put a REQUEUEABLE job back on its queue as if enqueued now; result,
-- lease and worker cleared (Backend.requeue; decided by core.rules.requeue).
--
-- ARGV: prefix, origin, job id, now, retrying ("1" after a lost reply).
-- Reply: {"ok", id, hash}, {"missing"} or {"invalid", status}.

local id, now, retrying = nextarg(), nextarg(), nextarg() == "1"
local key = job_key(id)
local f = redis.call("HMGET", key, "q", "s", "e", "c")
local status = f[2]
if f[3] == "=" then f[3] = f[4] end -- enqueued as created (keys.py)
if not status then return { "missing" } end
if REQUEUEABLE[status] then
  unplace(id, f[1], status)
  redis.call("HDEL", key, "st", "en", "r", "w", "lt", "le", "cr", "la")
  enter_queue(id, now)
elseif not (retrying and status == "queued" and f[3] == now) then
  return { "invalid", status }
end
publish()
local reply = { "ok" }
job_reply(reply, id)
return reply
