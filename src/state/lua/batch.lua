--[[
batch.lua: one subject's batch: run the ops in order, read the penalty, evaluate the penalty rules,
set the penalty if a fired rule is stronger than the active one (or none is active), reply.
Loaded as prelude.lua .. rate.lua .. count.lua .. distinct.lua .. penalty.lua .. batch.lua.

KEYS (all share the subject's hash tag vigil:{<subject>}, so one Cluster slot):
  KEYS[1]    vigil:{<subject>}:penalty
  KEYS[1+i]  the key of op i (i = 1..nOps):
               rate      vigil:{<subject>}:rate:<name>
               count     vigil:{<subject>}:count:<name>:<w>
               distinct  vigil:{<subject>}:hll:<name>:<w>
ARGV:
  ARGV[1]  nowMs
  ARGV[2]  nOps, then per op, starting with its kind:
             rate      bucketMs alpha by priorMean priorVariance priorWeight varianceFloor minCount clampZ ttlMs
             count     by ttlMs
             distinct  member ttlMs
  then     nRules, then per rule: op (0-based index into the ops) above action durationMs detector
Reply: a flat array of strings (numbers as %.17g):
  action ('' = no active penalty), until, detector, score, since,
  fired (0-based rule indexes joined by ','; '' = none),
  then per op:  rate: current mean variance samples z score closed | count: count | distinct: estimate
]]

local now = tonumber(ARGV[1])
local nOps = tonumber(ARGV[2])
local at = 3
local scores = {}
local reply = { '', '', '', '', '', '' }

for i = 1, nOps do
  local kind = ARGV[at]
  local key = KEYS[1 + i]
  if kind == 'rate' then
    local spec = {
      bucketMs = tonumber(ARGV[at + 1]), alpha = tonumber(ARGV[at + 2]), by = tonumber(ARGV[at + 3]),
      priorMean = tonumber(ARGV[at + 4]), priorVariance = tonumber(ARGV[at + 5]),
      priorWeight = tonumber(ARGV[at + 6]), varianceFloor = tonumber(ARGV[at + 7]),
      minCount = tonumber(ARGV[at + 8]), clampZ = tonumber(ARGV[at + 9]), ttlMs = ARGV[at + 10],
    }
    local score, fields = op_rate(key, spec, now)
    scores[i] = score
    for _, f in ipairs(fields) do
      reply[#reply + 1] = num(f)
    end
    at = at + 11
  elseif kind == 'count' then
    local count = op_count(key, tonumber(ARGV[at + 1]), ARGV[at + 2])
    scores[i] = count
    reply[#reply + 1] = num(count)
    at = at + 3
  elseif kind == 'distinct' then
    local estimate = op_distinct(key, ARGV[at + 1], ARGV[at + 2])
    scores[i] = estimate
    reply[#reply + 1] = num(estimate)
    at = at + 3
  else
    return redis.error_reply('vigil batch: unknown op kind ' .. tostring(kind))
  end
end

local penalty = penalty_read(KEYS[1], now)
local nRules = tonumber(ARGV[at])
at = at + 1
local fired = {}
local best, bestRank, bestDuration = nil, 0, nil
for r = 1, nRules do
  local op = tonumber(ARGV[at]) + 1
  local above = tonumber(ARGV[at + 1])
  local action = ARGV[at + 2]
  local score = scores[op]
  if score ~= nil and score > above then
    fired[#fired + 1] = tostring(r - 1)
    local rank = PENALTY_RANK[action] or 0
    if rank > bestRank then
      best = { action = action, detector = ARGV[at + 4], score = score }
      bestRank = rank
      bestDuration = tonumber(ARGV[at + 3])
    end
  end
  at = at + 5
end

if best and (penalty == nil or bestRank > (PENALTY_RANK[penalty.action] or 0)) then
  penalty = { action = best.action, untilMs = now + bestDuration, detector = best.detector, score = best.score, sinceMs = now }
  penalty_write(KEYS[1], penalty, bestDuration)
end

if penalty then
  reply[1] = penalty.action
  reply[2] = num(penalty.untilMs)
  reply[3] = penalty.detector
  reply[4] = num(penalty.score)
  reply[5] = num(penalty.sinceMs)
end
reply[6] = table.concat(fired, ',')
return reply
