--[[
batch.lua: one subject's batch: run the ops in order, read the penalty, evaluate the penalty rules,
set the penalty if a fired rule is stronger than the active one (or none is active), reply.
Loaded as prelude.lua .. rate.lua .. count.lua .. distinct.lua .. penalty.lua .. batch.lua.

KEYS (all share the subject's hash tag vigil:{<subject>}, so one Cluster slot):
  KEYS[1]  vigil:{<subject>}:penalty
  then each op's keys, in op order: one key, or two for a sliding count and a learning distinct:
             rate               vigil:{<subject>}:rate:<name>
             count              vigil:{<subject>}:count:<name>:<w>
             count, sliding     vigil:{<subject>}:count:<name>:<w>  vigil:{<subject>}:count:<name>:<w-1>
             distinct           vigil:{<subject>}:hll:<name>:<w>
             distinct, learn    vigil:{<subject>}:hll:<name>:<w>    vigil:{<subject>}:hll:<name>:<w-1>
           (w = floor(nowMs / windowMs); which ops take two keys is told by their ARGV flags)
ARGV:
  ARGV[1]  nowMs
  ARGV[2]  nOps, then per op, starting with its kind:
             rate      bucketMs alpha by priorMean priorVariance priorWeight varianceFloor minCount clampZ
                       ttlMs scoreMode ('z' | 'ratio') maxEmpty skipLongGaps (0 | 1)
             count     by ttlMs windowMs sliding (0 | 1)
             distinct  member ttlMs learn (0 | 1)
  then     nRules, then per rule: op above action durationMs detector per perAtLeast
             (op and per are 0-based indexes into the ops; per = -1 when the rule is not a ratio)
Rules: without per, fired when score(op) > above; with per, when d = score(per) >= perAtLeast,
  d ~= 0 and score(op) / d > above (the penalty's score is then that ratio).
Reply: a flat array of strings (numbers as %.17g):
  action ('' = no active penalty), until, detector, score, since,
  fired (0-based rule indexes joined by ','; '' = none),
  then per op:  rate: current mean variance samples z ratio score closed
                count: count
                distinct: estimate changed (0 | 1) closed
]]

local now = tonumber(ARGV[1])
local nOps = tonumber(ARGV[2])
local at = 3
local k = 2
local scores = {}
local reply = { '', '', '', '', '', '' }

local function push(fields)
  for _, f in ipairs(fields) do
    reply[#reply + 1] = num(f)
  end
end

for i = 1, nOps do
  local kind = ARGV[at]
  if kind == 'rate' then
    local spec = {
      bucketMs = tonumber(ARGV[at + 1]), alpha = tonumber(ARGV[at + 2]), by = tonumber(ARGV[at + 3]),
      priorMean = tonumber(ARGV[at + 4]), priorVariance = tonumber(ARGV[at + 5]),
      priorWeight = tonumber(ARGV[at + 6]), varianceFloor = tonumber(ARGV[at + 7]),
      minCount = tonumber(ARGV[at + 8]), clampZ = tonumber(ARGV[at + 9]), ttlMs = ARGV[at + 10],
      scoreMode = ARGV[at + 11], maxEmpty = tonumber(ARGV[at + 12]), skipLongGaps = ARGV[at + 13] == '1',
    }
    local score, fields = op_rate(KEYS[k], spec, now)
    scores[i] = score
    push(fields)
    k = k + 1
    at = at + 14
  elseif kind == 'count' then
    local prevKey = nil
    if ARGV[at + 4] == '1' then
      prevKey = KEYS[k + 1]
    end
    local count = op_count(KEYS[k], prevKey, tonumber(ARGV[at + 1]), ARGV[at + 2], tonumber(ARGV[at + 3]), now)
    scores[i] = count
    push({ count })
    k = k + (prevKey and 2 or 1)
    at = at + 5
  elseif kind == 'distinct' then
    local prevKey = nil
    if ARGV[at + 3] == '1' then
      prevKey = KEYS[k + 1]
    end
    local score, fields = op_distinct(KEYS[k], prevKey, ARGV[at + 1], ARGV[at + 2])
    scores[i] = score
    push(fields)
    k = k + (prevKey and 2 or 1)
    at = at + 4
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
  local per = tonumber(ARGV[at + 5])
  local score = scores[op]
  if score ~= nil and per >= 0 then
    local d = scores[per + 1]
    if d ~= nil and d >= tonumber(ARGV[at + 6]) and d ~= 0 then
      score = score / d
    else
      score = nil
    end
  end
  if score ~= nil and score > above then
    fired[#fired + 1] = tostring(r - 1)
    local rank = PENALTY_RANK[action] or 0
    if rank > bestRank then
      best = { action = action, detector = ARGV[at + 4], score = score }
      bestRank = rank
      bestDuration = tonumber(ARGV[at + 3])
    end
  end
  at = at + 7
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
