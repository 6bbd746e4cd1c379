/**
 * Envoy's HeaderMutationRules checker (docs/envoy-ext-proc.md §2.8; Envoy
 * `filters/common/mutation_rules/mutation_rules.cc`): which header a processor may set, append or remove.
 */
import { authorityIsValid, headerValueIsValid, schemeIsValid } from './headers.js';
import type { MutationRulesConfig } from './types.js';

export type CheckOperation = 'set' | 'append' | 'remove';
/** ok: apply; ignore: drop and count rejected_header_mutations; fail: local reply 500 (disallow_is_error). */
export type CheckResult = 'ok' | 'ignore' | 'fail';

/** §2.8: setting these needs allow_all_routing. */
const ROUTING_HEADERS = new Set(['host', ':authority', ':method', ':scheme']);

export class MutationChecker {
  private readonly allow: RegExp | undefined;
  private readonly disallow: RegExp | undefined;

  constructor(private readonly rules: MutationRulesConfig = {}) {
    // Envoy's regex matchers match the whole name.
    this.allow = rules.allow_expression !== undefined ? new RegExp(`^(?:${rules.allow_expression})$`) : undefined;
    this.disallow =
      rules.disallow_expression !== undefined ? new RegExp(`^(?:${rules.disallow_expression})$`) : undefined;
  }

  check(op: CheckOperation, name: string, value: Buffer): CheckResult {
    if (this.isAllowed(op, name) && (op === 'remove' || this.isValidValue(name, value))) return 'ok';
    // §2.8 disallow_is_error: false → silently dropped, true → error.
    return this.rules.disallow_is_error === true ? 'fail' : 'ignore';
  }

  private isAllowed(op: CheckOperation, name: string): boolean {
    // §2.8: removing any ':' header or host is never allowed.
    if (op === 'remove' && (name.startsWith(':') || name === 'host')) return false;
    // allow_expression / disallow_expression: disallow wins.
    if (this.disallow?.test(name)) return false;
    if (this.allow?.test(name)) return true;
    if (this.rules.disallow_all === true) return false;
    if (this.rules.allow_all_routing !== true && ROUTING_HEADERS.has(name)) return false;
    // §2.8: never append to a ':' header; disallow_system blocks them all.
    if (name.startsWith(':') && (op === 'append' || this.rules.disallow_system === true)) return false;
    if (this.rules.allow_envoy !== true && name.startsWith('x-envoy')) return false;
    return true;
  }

  /** §2.8 value validation: charset; host/:authority a valid authority; :scheme valid; :status an int ≥ 200. */
  private isValidValue(name: string, value: Buffer): boolean {
    if (!name.startsWith(':') && !headerValueIsValid(value)) return false;
    const text = value.toString('utf8');
    if ((name === 'host' || name === ':authority') && !authorityIsValid(text)) return false;
    if (name === ':scheme' && !schemeIsValid(text)) return false;
    if (name === ':status') {
      if (!/^[0-9]+$/.test(text)) return false;
      if (Number(text) < 200) return false;
    }
    return true;
  }
}
