--[[
lift.lua: operator lift (StateStore.liftPenalty): deletes the subject's penalty and strikes, atomically,
and replies with the penalty that was active. Loaded as prelude.lua .. penalty.lua .. lift.lua.

KEYS:
  KEYS[1]  vigil:{<subject>}:penalty
  KEYS[2]  vigil:{<subject>}:strikes
ARGV:
  ARGV[1]  nowMs (a penalty whose until <= nowMs was not active: '' reply, the key is deleted all the same)
Reply: action until detector score since level, as strings ('' x 6 when none was active).
]]

local p = penalty_read(KEYS[1], tonumber(ARGV[1]))
redis.call('DEL', KEYS[1], KEYS[2])
return penalty_fields(p)
