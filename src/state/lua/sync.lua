--[[
sync.lua: the body of the `vigil_sync` function: merges one replica's changes to one subject into the
shared state and replies with the merged state of the keys it touched (src/state/delta.ts is the
specification; memory-store.ts's applyDelta and snapshot do the same statement by statement).

KEYS (all share the subject's hash tag vigil:{<subject>}, so one Cluster slot):
  KEYS[1]  vigil:{<subject>}:penalty
  KEYS[2]  vigil:{<subject>}:strikes
  KEYS[3]  vigil:{<subject>}:credit
  then the delta's rate keys (vigil:{<subject>}:rate:<name>), count keys (…:count:<name>:<w>) and
  hll keys (…:hll:<name>:<w>), each once, in that order.
ARGV:
  ARGV[1]  nowMs
  ARGV[2]  the delta, packed as JSON (one argument instead of dozens):
           { "r": [[key, bucketMs, alpha, by, priorMean, priorVariance, priorWeight, varianceFloor,
                    minCount, clampZ, ttlMs, maxEmpty, skipLongGaps (0|1), atMs, lastMs], ...]  in order
             "c": [[key, by, ttlMs], ...]          "h": [[key, ttlMs, member, ...], ...]
             "p": [action, until, detector, score, since, level]   (optional)
             "s": [n, last, w, k]                  (optional)
             "k": creditUntil                      (optional)
             "x": clearedSinceMs                   (optional) }
           where key is the 1-based index into KEYS.
Rate keys also hold x, their expiry on vigil's clock: a state whose x <= the group's atMs is gone
(as it is in the replica's memory), whatever Redis's wall-clock TTL says.
Reply: a flat array: penalty (6 fields, '' when none active), strikes n last w k ('' when none),
  creditUntil (0 when none), then per key after the third, in KEYS order:
  rate: b c m v n x ('' for all six when absent); count: its value (0 when absent);
  hll: the raw HyperLogLog string ('' when absent).
]]

local now = tonumber(ARGV[1])
local d = cjson.decode(ARGV[2])

for _, g in ipairs(d.r or {}) do
  local key = KEYS[g[1]]
  local at = g[14]
  local x = tonumber(redis.call('HGET', key, 'x'))
  if x and x <= at then
    redis.call('DEL', key)
  end
  local spec = {
    bucketMs = g[2], alpha = g[3], by = g[4], priorMean = g[5], priorVariance = g[6], priorWeight = g[7],
    varianceFloor = g[8], minCount = g[9], clampZ = g[10], ttlMs = g[11], scoreMode = 'z',
    maxEmpty = g[12], skipLongGaps = g[13] == 1,
  }
  op_rate(key, spec, at)
  redis.call('HSET', key, 'x', num(g[15] + g[11]))
end

for _, c in ipairs(d.c or {}) do
  if c[2] ~= 0 then
    local count = redis.call('INCRBY', KEYS[c[1]], c[2])
    if count == c[2] then
      redis.call('PEXPIRE', KEYS[c[1]], c[3])
    end
  end
end

for _, h in ipairs(d.h or {}) do
  local key = KEYS[h[1]]
  local changed = 0
  -- PFADD in slices: unpack's stack is bounded.
  for from = 3, #h, 1000 do
    if redis.call('PFADD', key, unpack(h, from, math.min(from + 999, #h))) == 1 then
      changed = 1
    end
  end
  if changed == 1 then
    redis.call('PEXPIRE', key, h[2])
  end
end

if d.x then
  local p = penalty_read(KEYS[1], now)
  if p and p.action == 'challenge' and p.sinceMs <= d.x then
    redis.call('DEL', KEYS[1])
  end
end

if d.p and d.p[2] > now then
  local incoming = {
    action = d.p[1], untilMs = d.p[2], detector = d.p[3], score = d.p[4], sinceMs = d.p[5], level = d.p[6],
  }
  local p = penalty_read(KEYS[1], now)
  local wins = not p
  if p then
    local ri, rp = PENALTY_RANK[incoming.action] or 0, PENALTY_RANK[p.action] or 0
    wins = ri > rp or (ri == rp and incoming.untilMs > p.untilMs)
  end
  if wins then
    penalty_write(KEYS[1], incoming, math.max(1, math.ceil(incoming.untilMs - now)))
  end
end

local function strikes_at(n, last, w)
  if w > 0 then
    return math.max(0, n - math.floor(math.max(0, now - last) / w))
  end
  return n
end

if d.s then
  local n, last, w, k = d.s[1], d.s[2], d.s[3], d.s[4] or 0
  local raw = redis.call('HMGET', KEYS[2], 'n', 'last', 'w')
  local hn, hlast, hw = tonumber(raw[1]), tonumber(raw[2]), tonumber(raw[3]) or 0
  local wins = not hn or not hlast
  if not wins then
    local a, b = strikes_at(hn, hlast, hw), strikes_at(n, last, w)
    wins = b > a or (b == a and last > hlast)
  end
  if wins then
    redis.call('HSET', KEYS[2], 'n', num(n), 'last', num(last), 'w', num(w), 'k', num(k))
    redis.call('PEXPIRE', KEYS[2], num(math.max(1, math.ceil(last + math.max(1, math.ceil(math.max(n * w, k))) - now))))
  end
end

if d.k and d.k > now then
  if credit_read(KEYS[3], now) < d.k then
    redis.call('SET', KEYS[3], num(d.k), 'PX', num(math.max(1, math.ceil(d.k - now))))
  end
end

local reply = penalty_fields(penalty_read(KEYS[1], now))
local raw = redis.call('HMGET', KEYS[2], 'n', 'last', 'w', 'k')
if raw[1] and raw[2] then
  reply[7], reply[8], reply[9], reply[10] = raw[1], raw[2], raw[3] or '0', raw[4] or '0'
else
  reply[7], reply[8], reply[9], reply[10] = '', '', '', ''
end
reply[11] = num(credit_read(KEYS[3], now))

local kinds = {}
for _, g in ipairs(d.r or {}) do
  kinds[g[1]] = 'r'
end
for _, c in ipairs(d.c or {}) do
  kinds[c[1]] = 'c'
end
for _, h in ipairs(d.h or {}) do
  kinds[h[1]] = 'h'
end
for i = 4, #KEYS do
  local kind = kinds[i]
  if kind == 'r' then
    local st = redis.call('HMGET', KEYS[i], 'b', 'c', 'm', 'v', 'n', 'x')
    for j = 1, 6 do
      reply[#reply + 1] = st[j] or ''
    end
  elseif kind == 'c' then
    reply[#reply + 1] = redis.call('GET', KEYS[i]) or '0'
  else
    reply[#reply + 1] = redis.call('GET', KEYS[i]) or ''
  end
end
return reply
