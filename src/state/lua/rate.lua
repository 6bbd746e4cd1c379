--[[
rate.lua: the `rate` op (per-bucket count against an EWMA baseline blended with a population prior).

Not a script on its own: redis-store.ts concatenates rate.lua, count.lua, distinct.lua, penalty.lua and
batch.lua (in that order) into the one script it loads; batch.lua's header lists KEYS and ARGV.
memory-store.ts implements the same maths statement by statement (keep them in step).

State key  vigil:{<subject>}:rate:<name>  hash
  b  index of the current bucket (floor(nowMs / bucketMs))
  c  count in the current bucket
  m  own EWMA mean of closed buckets' counts
  v  own EWMA variance
  n  closed buckets folded so far
TTL: ttlMs, refreshed by every call.

Maths, with pm/pv = priorMean/priorVariance and the prior's weight fading out linearly as the
subject's own history grows, w = max(0, priorWeight - n):
  meanEff = (n*m + w*pm) / (n + w), varEff = (n*v + w*pv) / (n + w)   (both 0 when n + w = 0)
  sdEff   = sqrt(max(varEff, meanEff, varianceFloor))
  fold(x): when x >= minCount (a bucket that could have fired), x = min(x, meanEff + clampZ*sdEff),
           from the state before this fold; skipped while n + w = 0 (no baseline to clamp to).
           Buckets below minCount are learned unclamped, so a busy but normal subject's baseline
           can grow to its real rate.
           n = 0: m = x, v = 0;  else d = x - m, m = m + alpha*d, v = (1 - alpha)*(v + alpha*d*d)
           n = n + 1
  a call in bucket > b folds c, then min(bucket - b - 1, maxEmpty) empty buckets (maxEmpty defaults
  to 60); with skipLongGaps, a gap of more than maxEmpty empty buckets folds none of them (c itself is
  still folded). A call in bucket < b (late event) counts into the current bucket.
  c = c + by (by may be 0: the call reads the score without counting; the key is written all the same).
  z = (c - meanEff) / sdEff, or 0 when sdEff = 0;  ratio = c / max(meanEff, 1)
  score = 0 when c < minCount (spec.scoreFrom instead when given: suspicion, see batch.lua), else z
          (scoreMode 'z') or ratio (scoreMode 'ratio').
]]

local function rate_baseline(st, spec)
  local w = math.max(0, spec.priorWeight - st.n)
  local total = st.n + w
  if total == 0 then
    return 0, 0
  end
  local mean = (st.n * st.m + w * spec.priorMean) / total
  local var = (st.n * st.v + w * spec.priorVariance) / total
  return mean, var
end

local function rate_sd(mean, var, floor)
  return math.sqrt(math.max(var, mean, floor))
end

local function rate_fold(st, spec, x)
  if x >= spec.minCount and st.n + spec.priorWeight > 0 then
    local mean, var = rate_baseline(st, spec)
    local cap = mean + spec.clampZ * rate_sd(mean, var, spec.varianceFloor)
    if x > cap then
      x = cap
    end
  end
  if st.n == 0 then
    st.m = x
    st.v = 0
  else
    local d = x - st.m
    st.m = st.m + spec.alpha * d
    st.v = (1 - spec.alpha) * (st.v + spec.alpha * d * d)
  end
  st.n = st.n + 1
end

-- Returns the op's score and its reply fields: current, mean, variance, samples, z, ratio, score, closed.
local function op_rate(key, spec, now)
  local bucket = math.floor(now / spec.bucketMs)
  local raw = redis.call('HMGET', key, 'b', 'c', 'm', 'v', 'n')
  local st
  if raw[1] then
    st = { b = tonumber(raw[1]), c = tonumber(raw[2]), m = tonumber(raw[3]), v = tonumber(raw[4]), n = tonumber(raw[5]) }
  else
    st = { b = bucket, c = 0, m = 0, v = 0, n = 0 }
  end
  local closed = -1
  if bucket > st.b then
    closed = st.c
    rate_fold(st, spec, st.c)
    local empty = math.min(bucket - st.b - 1, spec.maxEmpty)
    if spec.skipLongGaps and bucket - st.b - 1 > spec.maxEmpty then
      empty = 0
    end
    for _ = 1, empty do
      rate_fold(st, spec, 0)
    end
    st.b = bucket
    st.c = 0
  end
  st.c = st.c + spec.by
  redis.call('HSET', key, 'b', num(st.b), 'c', num(st.c), 'm', num(st.m), 'v', num(st.v), 'n', num(st.n))
  redis.call('PEXPIRE', key, spec.ttlMs)
  local mean, var = rate_baseline(st, spec)
  local sd = rate_sd(mean, var, spec.varianceFloor)
  local z = 0
  if sd > 0 then
    z = (st.c - mean) / sd
  end
  local ratio = st.c / math.max(mean, 1)
  local score = 0
  if st.c >= (spec.scoreFrom or spec.minCount) then
    if spec.scoreMode == 'ratio' then
      score = ratio
    else
      score = z
    end
  end
  return score, { st.c, mean, var, st.n, z, ratio, score, closed }
end
