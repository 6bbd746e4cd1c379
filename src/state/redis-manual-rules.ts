/**
 * Manual rules in Redis (manual-rules.ts), one hash for all of them so every replica reads them in
 * one command:
 *   vigil:{manual}:rules     hash: target → the rule as JSON; PTTL = the longest rule's remaining time
 *   vigil:{manual}:version   a token replaced at every change (replicas poll it, then read the hash)
 * Both keys share the hash tag {manual} (one slot on a cluster) and always carry a TTL. Changes are
 * Lua scripts run with EVAL (lua/manual-put.lua, lua/manual-remove.lua), atomic: setting a rule also
 * deletes the expired ones it finds, so the hash stays bounded by MAX_MANUAL_RULES active rules.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { luaDir } from '../paths.js';
import type { Connection } from './redis-pipeline.js';
import { MAX_MANUAL_RULES, ManualRulesFullError, byTarget, ruleFrom } from './manual-rules.js';
import type { ManualRule, ManualRuleStore } from './manual-rules.js';

export const MANUAL_RULES_KEY = 'vigil:{manual}:rules';
export const MANUAL_VERSION_KEY = 'vigil:{manual}:version';
/** The version key outlives the last rule by at least this, so replicas see that it went. */
const VERSION_MIN_TTL_MS = 60_000;

export class RedisManualRules implements ManualRuleStore {
  /** The scripts (src/state/lua/manual-*.lua, whose headers list KEYS and ARGV). */
  private readonly putLua = readFileSync(join(luaDir, 'manual-put.lua'), 'utf8');
  private readonly removeLua = readFileSync(join(luaDir, 'manual-remove.lua'), 'utf8');

  constructor(
    private readonly redis: Connection,
    private readonly maxRules = MAX_MANUAL_RULES,
  ) {}

  async put(rule: ManualRule, nowMs: number): Promise<ManualRule | null> {
    const ttlMs = Math.max(1, Math.ceil(rule.untilMs - nowMs));
    const [stored, old] = (await this.redis.eval(this.putLua, 2, MANUAL_RULES_KEY, MANUAL_VERSION_KEY, rule.target, JSON.stringify(rule), ttlMs, nowMs, this.maxRules, token(nowMs), VERSION_MIN_TTL_MS)) as [number, string];
    if (stored !== 1) throw new ManualRulesFullError(this.maxRules);
    return active(old, nowMs);
  }

  async remove(target: string, nowMs: number): Promise<ManualRule | null> {
    const old = (await this.redis.eval(this.removeLua, 2, MANUAL_RULES_KEY, MANUAL_VERSION_KEY, target, token(nowMs), VERSION_MIN_TTL_MS)) as string;
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
