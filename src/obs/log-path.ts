/**
 * What a log line may say about a request's path. Paths carry secrets and personal data
 * (`/reset/<token>`, `/users/<email>`), so by default logs carry a template, never the path:
 *
 *  - a request an endpoint rule matched: the rule's own pattern, as the policy wrote it, where the
 *    request's segments fill no more than the pattern lets them: `{name}` stays `{name}`, a literal
 *    stays itself, and what a `*` glob or a final `**` covered is vigil's template of those segments,
 *    scrubbed (below);
 *  - a request no rule matched: vigil's template (`/users/{id}/orders`, request/endpoint.ts), scrubbed.
 *
 * Scrubbed: a segment vigil did not already template is kept only when it looks like a word of an
 * API (1–24 characters of letters, digits, `.`, `_`, `~`, `-`, at least one letter, at most 3 digits,
 * not upper- and lower-case letters mixed with digits); anything else (an e-mail address, a
 * percent-encoded value, a token) becomes `{redacted}`. Short plain words can still be personal data
 * (`/users/alice`): give such endpoints a rule (`/users/{user}`) and the log says `{user}`.
 * With VIGIL_LOG_RAW_PATHS=true a log line also carries the normalised `path` (no query). Pure.
 */
import { compilePattern } from '../policy/endpoints.js';
import type { EndpointRule } from '../policy/endpoints.js';
import { ID_PLACEHOLDER } from '../request/endpoint.js';
import type { Endpoint } from '../request/types.js';

export const REDACTED = '{redacted}';

type Matcher = (segments: string[]) => Record<string, string> | null;
const compiled = new WeakMap<EndpointRule, Array<{ parts: string[]; match: Matcher }>>();

/** The template a log line carries for this request (see the file header). */
export function loggedTemplate(endpoint: Endpoint, rule: EndpointRule | null): string {
  const segments = endpoint.path === '/' ? [] : endpoint.path.slice(1).split('/');
  const templated = endpoint.template === '/' ? [] : endpoint.template.slice(1).split('/');
  const pattern = rule ? patternOf(rule, segments) : null;
  if (!pattern) return `/${templated.map(scrub).join('/')}`;
  const out: string[] = [];
  for (const [i, part] of pattern.entries()) {
    if (part === '**') {
      out.push(...templated.slice(i).map(scrub));
      break;
    }
    out.push(part.includes('*') ? scrub(templated[i] ?? '') : part);
  }
  return `/${out.join('/')}`;
}

/** The log fields about the path: `template`, and `path` only when raw paths are configured. */
export function pathFields(endpoint: Endpoint, rule: EndpointRule | null, rawPaths: boolean): { template: string; path?: string } {
  const template = loggedTemplate(endpoint, rule);
  return rawPaths ? { template, path: endpoint.path } : { template };
}

/** A segment vigil did not template, kept when it looks like a word of an API, else REDACTED. */
export function scrub(segment: string): string {
  if (segment === ID_PLACEHOLDER) return segment;
  if (!/^[A-Za-z0-9._~-]{1,24}$/.test(segment) || !/[A-Za-z]/.test(segment)) return REDACTED;
  const digits = segment.replace(/[^0-9]/g, '').length;
  if (digits > 3) return REDACTED;
  if (digits > 0 && /[a-z]/.test(segment) && /[A-Z]/.test(segment)) return REDACTED;
  return segment;
}

/** The parts of the first of the rule's patterns that matches these segments (the rule matched, so one does). */
function patternOf(rule: EndpointRule, segments: string[]): string[] | null {
  let list = compiled.get(rule);
  if (!list) {
    list = [];
    for (const p of rule.paths) {
      const match = compilePattern(p);
      if (typeof match !== 'string') list.push({ parts: p === '/' ? [] : p.slice(1).split('/'), match });
    }
    compiled.set(rule, list);
  }
  return list.find((p) => p.match(segments) !== null)?.parts ?? null;
}
