/**
 * Placeholders in request paths, headers and bodies:
 *   {n}    index of the request within its stream (0-based, counted across repeated days)
 *   {i}    global index of the exchange in the scenario (0-based, time order)
 *   {n%K}  n modulo K         {n/K}  n divided by K, rounded down   ({i%K}, {i/K} likewise)
 * Anything else in braces that starts with a letter is a typo and rejected at load time; other braces
 * (JSON bodies) are left alone.
 */

const PLACEHOLDER = /\{(n|i)(?:([%/])([1-9][0-9]*))?\}/g;
const LOOKS_LIKE_ONE = /\{\s*[A-Za-z_][^{}"]*\}/g;

export interface TemplateVars {
  n: number;
  i: number;
}

export function render(text: string, vars: TemplateVars): string {
  if (!text.includes('{')) return text;
  return text.replace(PLACEHOLDER, (_m, name: 'n' | 'i', op?: string, k?: string) => {
    const v = vars[name];
    if (op === '%') return String(v % Number(k));
    if (op === '/') return String(Math.floor(v / Number(k)));
    return String(v);
  });
}

/** Null when every placeholder-looking part of `text` is a valid placeholder, else the problem. */
export function templateProblem(text: string): string | null {
  for (const m of text.matchAll(LOOKS_LIKE_ONE)) {
    const candidate = m[0];
    PLACEHOLDER.lastIndex = 0;
    const exact = PLACEHOLDER.exec(candidate);
    if (!exact || exact[0] !== candidate) {
      return `unknown placeholder ${candidate} (known: {n}, {i}, {n%K}, {n/K}, {i%K}, {i/K})`;
    }
  }
  return null;
}
