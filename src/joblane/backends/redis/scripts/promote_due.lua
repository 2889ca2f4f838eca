#!lua flags=allow-oom
-- promote_due: scheduled jobs due at or before now onto their queues, the
-- earliest first, at most `limit` (Backend.promote_due).
--
-- ARGV: prefix, origin, now, limit. Reply: {how many were promoted, the next due
--   time after them as text, or false if none is left}.

local now, limit = nextarg(), tonumber(nextarg())
local moved = 0
if limit > 0 then
  local due = redis.call("ZRANGE", SCHEDULED, "-inf", now, "BYSCORE", "LIMIT", 0, limit)
  for _, id in ipairs(due) do
    local q = redis.call("HGET", job_key(id), "q")
    unplace(id, q, "scheduled")
    enter_queue(id, now)
    moved = moved + 1
  end
end
if moved > 0 then publish() end
local next_due = redis.call("ZRANGE", SCHEDULED, 0, 0, "WITHSCORES")
return { moved, next_due[2] or false }
