--[[
batch.lua: one subject's batch: run the ops in order, read the penalty, step-up clear and credit,
evaluate the penalty rules, set the best fired rule's penalty (escalated) if its own action is stronger
than the active one (or none is active), reply. store.ts (Batch, Escalation, StepUp) is the
specification; memory-store.ts does the same statement by statement.
Loaded as prelude.lua .. rate.lua .. count.lua .. distinct.lua .. penalty.lua .. escalation.lua ..
credit.lua .. batch.lua.

KEYS (all share the subject's hash tag vigil:{<subject>}, so one Cluster slot):
  KEYS[1]  vigil:{<subject>}:penalty
  KEYS[2]  vigil:{<subject>}:strikes   (touched only with escalation, see below)
  KEYS[3]  vigil:{<subject>}:credit    (touched only with stepUp)
  then each op's keys, in op order: one key, or two for a sliding count and a learning distinct:
             rate               vigil:{<subject>}:rate:<name>
             count              vigil:{<subject>}:count:<name>:<w>
             count, sliding     vigil:{<subject>}:count:<name>:<w>  vigil:{<subject>}:count:<name>:<w-1>
             distinct           vigil:{<subject>}:hll:<name>:<w>
             distinct, learn    vigil:{<subject>}:hll:<name>:<w>    vigil:{<subject>}:hll:<name>:<w-1>
           (w = floor(nowMs / windowMs); which ops take two keys is told by their ARGV flags)
ARGV:
  ARGV[1]      nowMs
  ARGV[2..6]   escalation: 1 windowMs factor maxAction maxMs, or 0 0 1 '' 0 without escalation
  ARGV[7..12]  stepUp: 1 relax creditMs clear (0 | 1) authTimeMs skewMs, or 0 1 0 0 0 0 without
               (creditMs as whole ms >= 1; authTimeMs and skewMs are 0 when clear is 0)
  ARGV[13]     nOps, then per op, starting with its kind:
             rate      bucketMs alpha by priorMean priorVariance priorWeight varianceFloor minCount clampZ
                       ttlMs scoreMode ('z' | 'ratio') maxEmpty skipLongGaps (0 | 1)
             count     by ttlMs windowMs sliding (0 | 1)
             distinct  member ttlMs learn (0 | 1)
  then     nRules, then per rule: op above action durationMs detector per perAtLeast
             (op and per are 0-based indexes into the ops; per = -1 when the rule is not a ratio;
             durationMs as whole ms >= 1)
  last 3   suspicion: sensitivity halfLifeMs keepMs, or 1 0 0 without (read first, from the end)
Order: suspicion (with keepMs > 0: s from the strikes' `last`, escalation.lua suspicion_at); ops (a
  rate op scores from ceil(minCount / s) while s > 1); read the penalty; with stepUp: clear (a challenge with since <= authTimeMs + skewMs is
  deleted and credit granted: SET credit now+creditMs PX creditMs), then read the credit (active while
  now < its value); rules; escalation; set.
Rules: the threshold is above, or above * relax while credit is active; divided by s while s > 1. Without per, fired when
  score(op) > threshold; with per, when d = score(per) >= perAtLeast, d ~= 0 and score(op) / d >
  threshold (the penalty's score is then that ratio). `fired` lists every rule whose condition held.
Setting: level = n_eff of the strikes (escalation.lua), 0 without escalation. A fired rule's escalated
  action is its action stepped up `level` times, capped at maxAction, never below its own; while credit
  is active a fired rule whose escalated action is challenge sets nothing. Of the others the one with
  the strongest own action wins (ties: the first; escalation is monotone, so it also has the strongest
  escalated action). It is set, escalated, when no penalty is active or its OWN action is stronger than
  the active one's (so firing again while penalized by the same or a weaker rule is not a new offence:
  the next penalty steps up, not the next request); with escalation the strikes become {n_eff + 1, now, windowMs, keepMs}.
  The strikes key is read for setting only when some fired rule's own action is stronger than the active
  penalty's and than tag. A `tag` rule sets a mark (action tag, its own duration, level 0): never
  escalated, no strikes written; like any rung it is set only when nothing as strong is active.
Reply: a flat array of strings (numbers as %.17g):
  action ('' = no active penalty), until, detector, score, since, level  ('' for all six when none),
  fired (0-based rule indexes joined by ','; '' = none),
  creditUntil (0 without stepUp or without active credit), cleared (0 | 1),
  then per op:  rate: current mean variance samples z ratio score closed
                count: count
                distinct: estimate changed (0 | 1) closed
  then s (the suspicion, 1 without).
]]

local now = tonumber(ARGV[1])
local esc = nil
if ARGV[2] == '1' then
  esc = { windowMs = tonumber(ARGV[3]), factor = tonumber(ARGV[4]), maxAction = ARGV[5], maxMs = tonumber(ARGV[6]) }
end
local stepUp = nil
if ARGV[7] == '1' then
  stepUp = {
    relax = tonumber(ARGV[8]), creditMs = tonumber(ARGV[9]), clear = ARGV[10] == '1',
    authTimeMs = tonumber(ARGV[11]), skewMs = tonumber(ARGV[12]),
  }
end
local suspicion = 1
local spKeep = tonumber(ARGV[#ARGV])
if esc and spKeep > 0 then
  suspicion = suspicion_at(KEYS[2], tonumber(ARGV[#ARGV - 2]), tonumber(ARGV[#ARGV - 1]), spKeep, now)
end
local nOps = tonumber(ARGV[13])
local at = 14
local k = 4
local scores = {}
local reply = { '', '', '', '', '', '', '', '0', '0' }

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
    if suspicion > 1 then
      spec.scoreFrom = math.ceil(spec.minCount / suspicion)
    end
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
local cleared = false
local creditUntil = 0
if stepUp then
  if stepUp.clear and penalty and penalty.action == 'challenge' and penalty.sinceMs <= stepUp.authTimeMs + stepUp.skewMs then
    redis.call('DEL', KEYS[1])
    credit_grant(KEYS[3], now, stepUp.creditMs)
    penalty = nil
    cleared = true
  end
  creditUntil = credit_read(KEYS[3], now)
end
local credit = creditUntil ~= 0

local nRules = tonumber(ARGV[at])
at = at + 1
local fired = {}
local candidates = {}
for r = 1, nRules do
  local op = tonumber(ARGV[at]) + 1
  local above = tonumber(ARGV[at + 1])
  if credit then
    above = above * stepUp.relax
  end
  if suspicion > 1 then
    above = above / suspicion
  end
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
    if rank > 0 then
      candidates[#candidates + 1] = { rank = rank, detector = ARGV[at + 4], score = score, durationMs = tonumber(ARGV[at + 3]) }
    end
  end
  at = at + 7
end

local activeRank = 0
if penalty then
  activeRank = PENALTY_RANK[penalty.action] or 0
end
local reach = 0
for _, c in ipairs(candidates) do
  reach = math.max(reach, c.rank)
end
-- A penalty is set only by a rule whose own action is stronger than the active one's, so the strikes
-- are read only then.
if reach > activeRank then
  -- A mark (tag) is no offence: the strikes are read only when an enforcing rule fired.
  local e = nil
  if reach > TAG_RANK then
    e = esc
  end
  local capRank = 0
  local level = 0
  if e then
    capRank = PENALTY_RANK[e.maxAction] or 0
    level = strikes_level(KEYS[2], e.windowMs, now)
  end
  local best, bestRank = nil, 0
  for _, c in ipairs(candidates) do
    local rank = c.rank
    if e and c.rank > TAG_RANK then
      rank = escalate_rank(c.rank, level, capRank)
    end
    if not (credit and rank == PENALTY_RANK.challenge) and c.rank > (best and best.rank or 0) then
      best = c
      bestRank = rank
    end
  end
  if best and best.rank > activeRank then
    local mark = best.rank == TAG_RANK
    local duration = best.durationMs
    if e and not mark then
      duration = escalate_duration(duration, level, e.factor, e.maxMs)
      strikes_write(KEYS[2], level + 1, e.windowMs, spKeep, now)
    end
    if mark then
      level = 0
    end
    penalty = {
      action = PENALTY_ORDER[bestRank], untilMs = now + duration, detector = best.detector,
      score = best.score, sinceMs = now, level = level,
    }
    penalty_write(KEYS[1], penalty, duration)
  end
end

local head = penalty_fields(penalty)
for i = 1, 6 do
  reply[i] = head[i]
end
reply[7] = table.concat(fired, ',')
reply[8] = num(creditUntil)
if cleared then
  reply[9] = '1'
end
reply[#reply + 1] = num(suspicion)
return reply
