--[[
penalty.lua: read and set a subject's penalty. Concatenated into the batch script (see batch.lua) and
into lift.lua and confirm.lua.

Key  vigil:{<subject>}:penalty  hash
  action    tag | throttle | challenge | block (already escalated, see escalation.lua; tag = a mark,
            never escalated)
  until     absolute expiry, ms on the caller's clock
  detector  the detector (policy name) that set it
  score     the score that fired the rule
  since     when it was set
  level     escalation level when it was set (0 without escalation; absent in older hashes = 0)
TTL = the (escalated) duration (PX). A penalty whose `until` is not after nowMs counts as none,
whatever Redis's own (wall-clock) TTL says: the caller's clock is the only clock.
]]

local PENALTY_RANK = { tag = 1, throttle = 2, challenge = 3, block = 4 }
local PENALTY_ORDER = { 'tag', 'throttle', 'challenge', 'block' }
-- A mark: the weakest rung, no offence (never escalated, no strikes), see store.ts PenaltyAction.
local TAG_RANK = 1

local function penalty_read(key, now)
  local raw = redis.call('HMGET', key, 'action', 'until', 'detector', 'score', 'since', 'level')
  if not raw[1] then
    return nil
  end
  local p = {
    action = raw[1], untilMs = tonumber(raw[2]), detector = raw[3], score = tonumber(raw[4]),
    sinceMs = tonumber(raw[5]), level = tonumber(raw[6]) or 0,
  }
  if p.untilMs == nil or p.untilMs <= now then
    return nil
  end
  return p
end

local function penalty_write(key, p, durationMs)
  redis.call('HSET', key, 'action', p.action, 'until', num(p.untilMs), 'detector', p.detector,
    'score', num(p.score), 'since', num(p.sinceMs), 'level', num(p.level))
  redis.call('PEXPIRE', key, num(durationMs))
end

-- The six reply fields of a penalty: action until detector score since level ('' x 6 for none).
local function penalty_fields(p)
  if not p then
    return { '', '', '', '', '', '' }
  end
  return { p.action, num(p.untilMs), p.detector, num(p.score), num(p.sinceMs), num(p.level) }
end
