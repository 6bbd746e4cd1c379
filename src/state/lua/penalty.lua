--[[
penalty.lua: read and set a subject's penalty. Concatenated into the batch script, see batch.lua.

Key  vigil:{<subject>}:penalty  hash
  action    throttle | challenge | block
  until     absolute expiry, ms on the caller's clock
  detector  the detector (policy name) that set it
  score     the score that fired the rule
  since     when it was set
TTL = the rule's durationMs (PX). A penalty whose `until` is not after nowMs counts as none, whatever
Redis's own (wall-clock) TTL says: the caller's clock is the only clock.
]]

local PENALTY_RANK = { throttle = 1, challenge = 2, block = 3 }

local function penalty_read(key, now)
  local raw = redis.call('HMGET', key, 'action', 'until', 'detector', 'score', 'since')
  if not raw[1] then
    return nil
  end
  local p = { action = raw[1], untilMs = tonumber(raw[2]), detector = raw[3], score = tonumber(raw[4]), sinceMs = tonumber(raw[5]) }
  if p.untilMs == nil or p.untilMs <= now then
    return nil
  end
  return p
end

local function penalty_write(key, p, durationMs)
  redis.call('HSET', key, 'action', p.action, 'until', num(p.untilMs), 'detector', p.detector,
    'score', num(p.score), 'since', num(p.sinceMs))
  redis.call('PEXPIRE', key, durationMs)
end
