--[[
manual-remove.lua: removes a target's manual rule (RedisManualRules.remove, redis-manual-rules.ts), run
with EVAL; replaces the version token when there was one. An emptied hash is gone (Redis deletes it).

KEYS:
  KEYS[1]  vigil:{manual}:rules     hash: target → rule JSON
  KEYS[2]  vigil:{manual}:version   string: a token replaced at every change
ARGV:
  ARGV[1]  target (canonical)
  ARGV[2]  the new version token
  ARGV[3]  the version key's minimum TTL in ms
Reply: the removed rule's JSON, or '' when the target had none (nothing changes).
]]

local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old then return '' end
redis.call('HDEL', KEYS[1], ARGV[1])
local left = redis.call('PTTL', KEYS[1])
redis.call('SET', KEYS[2], ARGV[2], 'PX', math.max(left, tonumber(ARGV[3])))
return old
