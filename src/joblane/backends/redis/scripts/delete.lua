#!lua flags=allow-oom
-- delete: remove a job whatever its state (Backend.delete). A started job's
-- worker then finds its lease gone and records nothing.
--
-- ARGV: prefix, origin, job id. Reply: 1 if there was a job, else 0.

local id = nextarg()
if remove_job(id) then
  publish()
  return 1
end
return 0
