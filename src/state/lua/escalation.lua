--[[
escalation.lua: offences (strikes) and the escalated action and duration of a penalty being set.
Concatenated into the batch script, see batch.lua; store.ts (Escalation) is the specification and
memory-store.ts does the same statement by statement.

Key  vigil:{<subject>}:strikes  hash
  n     offences counted at `last` (after that offence)
  last  time of the last offence (a batch that SET a penalty), ms on the caller's clock
  w     the escalation windowMs in force at `last` (lets inspect decay the count without a policy)
  k     suspicion's keepMs at `last` (0 without suspicion; absent in older hashes = 0)
TTL max(n * windowMs, k) rounded up to whole ms (PX): by then the count has decayed to 0 and the
suspicion has ended.

Decay at time t with the batch's windowMs: n_eff = max(0, n - floor(max(0, t - last) / windowMs)).
A clock that steps back before `last` decays nothing (it does not add offences either).
]]

-- n_eff of the strikes hash at `now`, decayed with windowMs; 0 when there is no key.
local function strikes_level(key, windowMs, now)
  local raw = redis.call('HMGET', key, 'n', 'last')
  local n, last = tonumber(raw[1]), tonumber(raw[2])
  if not n or not last then
    return 0
  end
  return math.max(0, n - math.floor(math.max(0, now - last) / windowMs))
end

-- keepMs: suspicion's keep (0 without); the key lives max(n * windowMs, keepMs) (delta.ts strikesLifeMs).
local function strikes_write(key, n, windowMs, keepMs, now)
  redis.call('HSET', key, 'n', num(n), 'last', num(now), 'w', num(windowMs), 'k', num(keepMs))
  redis.call('PEXPIRE', key, num(math.max(1, math.ceil(math.max(n * windowMs, keepMs)))))
end

-- Suspicion s at `now` from the last offence (store.ts Suspicion, suspicionAt): 1 when none.
local function suspicion_at(key, sensitivity, halfLifeMs, keepMs, now)
  local last = tonumber(redis.call('HGET', key, 'last'))
  if not last then
    return 1
  end
  local d = math.max(0, now - last)
  if not (d < keepMs) then
    return 1
  end
  local s = math.floor((1 + (sensitivity - 1) * 2 ^ (-d / halfLifeMs)) * 1e6 + 0.5) / 1e6
  if s >= 1.01 then
    return s
  end
  return 1
end

-- Rank (2..4: the enforcing rungs; a mark, rank 1, is never escalated) of rank `base` escalated `level` steps, capped at capRank but never below base.
local function escalate_rank(base, level, capRank)
  local r = math.min(base + level, capRank)
  if r < base then
    r = base
  end
  return r
end

-- Escalated duration: min(D * factor^level, max(D, maxMs)), rounded up to whole ms. factor^level is
-- multiplied out step by step (stopping at the cap), so Lua and JavaScript round alike.
local function escalate_duration(d, level, factor, maxMs)
  local cap = math.max(d, maxMs)
  local x = d
  if factor > 1 then
    for _ = 1, level do
      if x >= cap then
        break
      end
      x = x * factor
    end
  end
  return math.max(1, math.ceil(math.min(x, cap)))
end
