--[[
count.lua: the `count` op (window counter). Concatenated into the batch script, see batch.lua.

Keys  vigil:{<subject>}:count:<name>:<w>  string counter of window w = floor(nowMs / windowMs)
      (computed by the caller and baked into the key name); a sliding count also gets the previous
      window's key (w - 1), which it only reads.
TTL 2*windowMs (passed as ttlMs), set when the counter is created (INCRBY's reply equals `by`), so
the key outlives its window (and can serve as a sliding count's previous window) and then disappears.

by = 0 only reads: GET, never creating the key (0 when absent). Otherwise INCRBY.
Fixed:    count = count(w)
Sliding:  count = count(w) + count(w - 1) * (1 - (now mod windowMs) / windowMs), a float (two-bucket
          approximation of the last windowMs); now mod windowMs is computed as
          now - floor(now / windowMs) * windowMs (memory-store.ts does the same).
Score = count.
]]

local function op_count(key, prevKey, by, ttlMs, windowMs, now)
  local count
  if by == 0 then
    count = tonumber(redis.call('GET', key)) or 0
  else
    count = redis.call('INCRBY', key, by)
    if count == by then
      redis.call('PEXPIRE', key, ttlMs)
    end
  end
  if prevKey then
    local prev = tonumber(redis.call('GET', prevKey)) or 0
    local into = now - math.floor(now / windowMs) * windowMs
    count = count + prev * (1 - into / windowMs)
  end
  return count
end
