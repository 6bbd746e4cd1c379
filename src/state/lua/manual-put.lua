--[[
manual-put.lua: sets an operator's manual rule (RedisManualRules.put, redis-manual-rules.ts), run with
EVAL. Deletes the expired or unreadable rules it finds, refuses a new target when max active rules are
held, keeps the hash's TTL at least the new rule's, and replaces the version token.

KEYS:
  KEYS[1]  vigil:{manual}:rules     hash: target → rule JSON
  KEYS[2]  vigil:{manual}:version   string: a token replaced at every change
ARGV:
  ARGV[1]  target (canonical)
  ARGV[2]  the rule as JSON (with untilMs)
  ARGV[3]  the rule's TTL in ms (untilMs − nowMs, at least 1)
  ARGV[4]  nowMs (a rule whose untilMs <= nowMs is expired)
  ARGV[5]  max active rules
  ARGV[6]  the new version token
  ARGV[7]  the version key's minimum TTL in ms
Reply: {1, the replaced rule's JSON or ''} when set; {0, ''} when refused (full).
]]

local rules, version = KEYS[1], KEYS[2]
local target, ttl, now, max = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local old = redis.call('HGET', rules, target)
local all = redis.call('HGETALL', rules)
local n = 0
for i = 1, #all, 2 do
  local ok, r = pcall(cjson.decode, all[i + 1])
  if not ok or type(r) ~= 'table' or type(r.untilMs) ~= 'number' or r.untilMs <= now then
    redis.call('HDEL', rules, all[i])
  elseif all[i] ~= target then
    n = n + 1
  end
end
if n >= max then return {0, ''} end
redis.call('HSET', rules, target, ARGV[2])
local left = redis.call('PTTL', rules)
if left < ttl then
  redis.call('PEXPIRE', rules, ttl)
  left = ttl
end
redis.call('SET', version, ARGV[6], 'PX', math.max(left, tonumber(ARGV[7])))
return {1, old or ''}
