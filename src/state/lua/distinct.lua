--[[
distinct.lua: the `distinct` op (distinct members per fixed window, HyperLogLog). Concatenated into
the batch script, see batch.lua.

Keys  vigil:{<subject>}:hll:<name>:<w>  HyperLogLog, w = floor(nowMs / windowMs) (baked into the key
      name by the caller); with learn, also the previous window's key (w - 1), which it only reads.
TTL 2*windowMs (passed as ttlMs), set whenever PFADD changed the HLL (which includes its creation),
so a window's HLL outlives the window by at least one window and learn can still read it.

  member ''           nothing is added or read: estimate -1, changed false, closed -1
  PFADD returned 1    changed true, estimate = PFCOUNT (the new cardinality), score = estimate
  PFADD returned 0    changed false, estimate -1 (not read), score 0
  learn               when this call created the window's HLL (the key did not exist before the
                      PFADD: one EXISTS, only for learn ops), closed = PFCOUNT of the previous
                      window's key (0 when it is gone), i.e. that window's final estimate, read once
                      per window; otherwise closed = -1

Why PFCOUNT only when PFADD changed a register (docs/performance.md B4). PFADD's reply already says
whether the cardinality can have moved: with 0 no register changed, so the estimate is the one the
previous call saw, and reading it again costs a command for no new information. Redis's HLL header
caches the cardinality between changes, so that unchanged read was cheap, but it is the common case:
in B4's runs 63 % of adds left every register as it was at 1,000 members, 91 % at 100,000 and 99 % at
1,000,000. When PFADD returned 1 the cache is invalid and PFCOUNT rescans the 16,384 registers
(~11-14 us); that cost remains, but it is paid only by the adds that changed a register, a share that
falls as the HLL fills. The reply is also more useful: score 0 on an unchanged call means a rule can fire
only on the call that raised the count, so a repeated member cannot keep re-firing a penalty.
No cached-estimate key or "PFCOUNT every N ms": both would serve stale estimates and make the Redis
and memory stores disagree; the memory store's HLL (hyperloglog.ts) changes exactly the registers
Redis changes, so `changed` and every estimate agree.
]]

-- Returns the op's score and its reply fields: estimate, changed (0/1), closed.
local function op_distinct(key, prevKey, member, ttlMs)
  if member == '' then
    return 0, { -1, 0, -1 }
  end
  local created = false
  if prevKey then
    created = redis.call('EXISTS', key) == 0
  end
  if redis.call('PFADD', key, member) == 0 then
    return 0, { -1, 0, -1 }
  end
  redis.call('PEXPIRE', key, ttlMs)
  local estimate = redis.call('PFCOUNT', key)
  local closed = -1
  if created then
    closed = redis.call('PFCOUNT', prevKey)
  end
  return estimate, { estimate, 1, closed }
end
