--[[
distinct.lua: the `distinct` op (distinct members per fixed window, HyperLogLog). Concatenated into
the batch script, see batch.lua.

Key  vigil:{<subject>}:hll:<name>:<w>  HyperLogLog, w = floor(nowMs / windowMs) (baked into the key
name by the caller). TTL 2*windowMs (passed as ttlMs), set whenever PFADD changed the HLL (which
includes its creation). Score = estimate.

Why PFCOUNT on every call and no cached-estimate key (docs/performance.md B4): a single-key PFCOUNT
reads the cardinality Redis caches in the HLL header whenever the preceding PFADD returned 0, which
costs about as much as a GET; it only rescans the registers when PFADD returned 1, and that is exactly
when a separate cached count would have to be recomputed too. A `hllc` key would add a GET, a SET and
a PEXPIRE per call to save nothing but the cheap case, or serve stale estimates and make Redis and
the memory store disagree. So: PFADD, then PFCOUNT.
]]

local function op_distinct(key, member, ttlMs)
  local changed = redis.call('PFADD', key, member)
  if changed == 1 then
    redis.call('PEXPIRE', key, ttlMs)
  end
  return redis.call('PFCOUNT', key)
end
