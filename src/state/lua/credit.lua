--[[
credit.lua: step-up credit. Concatenated into the batch script (see batch.lua) and confirm.lua.

Key  vigil:{<subject>}:credit  string: the credit's absolute expiry, ms on the caller's clock
TTL creditMs (PX, whole ms). Active while nowMs < the stored value, whatever Redis's own TTL says.
]]

-- The credit's expiry when active at `now`, else 0.
local function credit_read(key, now)
  local v = tonumber(redis.call('GET', key))
  if v and now < v then
    return v
  end
  return 0
end

-- Grants credit until now + creditMs (creditMs: whole ms, >= 1). Returns the expiry.
local function credit_grant(key, now, creditMs)
  local untilMs = now + creditMs
  redis.call('SET', key, num(untilMs), 'PX', num(creditMs))
  return untilMs
end
