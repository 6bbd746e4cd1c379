--[[
population.lua: fold samples (closed bucket counts of many subjects) into a population baseline.
Loaded as prelude.lua .. population.lua.

KEYS:
  KEYS[1]  vigil:{pop}:<name>  hash: m (mean), v (variance), w (decayed weight)
ARGV:
  ARGV[1]  alpha, in (0, 1]
  ARGV[2]  ttlMs
  ARGV[3..] the samples
Per sample x, in order:  weight = 0 (no baseline yet): m = x, v = 0
                         otherwise: d = x - m, m = m + alpha*d, v = (1 - alpha)*(v + alpha*d*d)
                         then weight = weight*(1 - alpha) + 1
The key's TTL is set to ttlMs when at least one sample was merged; with no samples this only reads.
Reply: { m, v, weight } as %.17g strings ('0's when there is no baseline).
]]

local key = KEYS[1]
local alpha = tonumber(ARGV[1])
local raw = redis.call('HMGET', key, 'm', 'v', 'w')
local m, v, w = tonumber(raw[1]) or 0, tonumber(raw[2]) or 0, tonumber(raw[3]) or 0
local n = #ARGV - 2
for i = 3, #ARGV do
  local x = tonumber(ARGV[i])
  if w == 0 then
    m = x
    v = 0
  else
    local d = x - m
    m = m + alpha * d
    v = (1 - alpha) * (v + alpha * d * d)
  end
  w = w * (1 - alpha) + 1
end
if n > 0 then
  redis.call('HSET', key, 'm', num(m), 'v', num(v), 'w', num(w))
  redis.call('PEXPIRE', key, ARGV[2])
end
return { num(m), num(v), num(w) }
