/**
 * Manual rules in Redis (manual-rules.ts), one hash for all of them so every replica reads them in
 * one command:
 *   vigil:{manual}:rules     hash: target → the rule as JSON; PTTL = the longest rule's remaining time
 *   vigil:{manual}:version   a token replaced at every change (replicas poll it, then read the hash)
 * Both keys share the hash tag {manual} (one slot on a cluster) and always carry a TTL. Changes are
 * Lua scripts, atomic: setting a rule also deletes the expired ones it finds, so the hash stays bounded
 * by MAX_MANUAL_RULES active rules.
 */
import { randomBytes } from 'node:crypto';
import type { Connection } from './redis-pipeline.js';
import { MAX_MANUAL_RULES, ManualRulesFullError, byTarget, ruleFrom } from './manual-rules.js';
import type { ManualRule, ManualRuleStore } from './manual-rules.js';

export const MANUAL_RULES_KEY = 'vigil:{manual}:rules';
export const MANUAL_VERSION_KEY = 'vigil:{manual}:version';
/** The version key outlives the last rule by at least this, so replicas see that it went. */
const VERSION_MIN_TTL_MS = 60_000;

/** KEYS: rules, version. ARGV: target, rule JSON, rule TTL ms, nowMs, max rules, version token. */
const PUT = `
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
redis.call('SET', version, ARGV[6], 'PX', math.max(left, ${VERSION_MIN_TTL_MS}))
return {1, old or ''}
`;

/** KEYS: rules, version. ARGV: target, version token. */
const REMOVE = `
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old then return '' end
redis.call('HDEL', KEYS[1], ARGV[1])
local left = redis.call('PTTL', KEYS[1])
redis.call('SET', KEYS[2], ARGV[2], 'PX', math.max(left, ${VERSION_MIN_TTL_MS}))
return old
`;

export class RedisManualRules implements ManualRuleStore {
  constructor(
    private readonly redis: Connection,
    private readonly maxRules = MAX_MANUAL_RULES,
  ) {}

  async put(rule: ManualRule, nowMs: number): Promise<ManualRule | null> {
    const ttlMs = Math.max(1, Math.ceil(rule.untilMs - nowMs));
    const [stored, old] = (await this.redis.eval(PUT, 2, MANUAL_RULES_KEY, MANUAL_VERSION_KEY, rule.target, JSON.stringify(rule), ttlMs, nowMs, this.maxRules, token(nowMs))) as [number, string];
    if (stored !== 1) throw new ManualRulesFullError(this.maxRules);
    return active(old, nowMs);
  }

  async remove(target: string, nowMs: number): Promise<ManualRule | null> {
    const old = (await this.redis.eval(REMOVE, 2, MANUAL_RULES_KEY, MANUAL_VERSION_KEY, target, token(nowMs))) as string;
    return active(old, nowMs);
  }

  async list(nowMs: number): Promise<ManualRule[]> {
    const all = await this.redis.hgetall(MANUAL_RULES_KEY);
    const out: ManualRule[] = [];
    for (const [target, json] of Object.entries(all)) {
      const r = active(json, nowMs);
      if (r && r.target === target) out.push(r);
    }
    return out.sort(byTarget);
  }

  async version(): Promise<string> {
    return (await this.redis.get(MANUAL_VERSION_KEY)) ?? '';
  }
}

function token(nowMs: number): string {
  return `${nowMs}.${randomBytes(6).toString('hex')}`;
}

/** A stored rule that is well-formed and active at nowMs, else null. */
function active(json: string | null, nowMs: number): ManualRule | null {
  if (!json) return null;
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return null;
  }
  const r = ruleFrom(value);
  return r && r.untilMs > nowMs ? r : null;
}
