#!lua flags=no-writes
-- queue_names: every queue that holds at least one job, sorted (reads only).
--
-- ARGV: prefix, origin. Reply: the names.

local names = {}
for _, q in ipairs(redis.call("SMEMBERS", QUEUES)) do
  local held = redis.call("EXISTS", index_key(q)) == 1
  if not held then
    for _, registry in ipairs(REGISTRIES) do
      if redis.call("ZCARD", reg_key(q, registry)) > 0 then
        held = true
        break
      end
    end
  end
  if held then names[#names + 1] = q end
end
table.sort(names)
return names
