--[[
confirm.lua: step-up confirmed by the upstream (StateStore.confirmStepUp): when the subject's active
penalty is a challenge, deletes it and grants credit until nowMs + creditMs, atomically; otherwise
changes nothing. Loaded as prelude.lua .. penalty.lua .. credit.lua .. confirm.lua.

KEYS:
  KEYS[1]  vigil:{<subject>}:penalty
  KEYS[2]  vigil:{<subject>}:credit
ARGV:
  ARGV[1]  nowMs
  ARGV[2]  creditMs (whole ms, >= 1)
Reply: 1 when a challenge was cleared, else 0.
]]

local now = tonumber(ARGV[1])
local p = penalty_read(KEYS[1], now)
if not p or p.action ~= 'challenge' then
  return 0
end
redis.call('DEL', KEYS[1])
credit_grant(KEYS[2], now, tonumber(ARGV[2]))
return 1
