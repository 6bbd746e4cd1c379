--[[
count.lua: the `count` op (fixed-window counter). Concatenated into the batch script, see batch.lua.

Key  vigil:{<subject>}:count:<name>:<w>  string counter, w = floor(nowMs / windowMs) (computed by the
caller and baked into the key name). TTL 2*windowMs (passed as ttlMs), set when the counter is
created (INCRBY's reply equals `by`), so the key outlives its window and then disappears.
Score = count.
]]

local function op_count(key, by, ttlMs)
  local count = redis.call('INCRBY', key, by)
  if count == by then
    redis.call('PEXPIRE', key, ttlMs)
  end
  return count
end
