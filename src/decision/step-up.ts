import type { StepUpConfig } from '../policy/policy.js';
import type { VerifiedClaims } from '../request/types.js';
import type { StepUp } from '../state/store.js';

/**
 * When a request's verified claims (the jwt_authn payload Envoy forwards, request/identity.ts) meet
 * the policy's step-up requirements: the time the user authenticated, in ms; else null. The claims
 * meet them when
 *  - acr or amr is required (claims never clear when neither list is set),
 *  - acr, when required, is one of the listed values,
 *  - amr, when required, holds at least one of the listed methods,
 *  - auth_time is present.
 * Whether that authentication came after the challenge is the store's comparison (StepUp.clear in
 * state/store.ts), made against the challenge it holds. Claims from any other header, or an
 * unverified bearer token, never reach here.
 */
export function stepUpAuthTimeMs(claims: VerifiedClaims | null, cfg: StepUpConfig): number | null {
  if (!claims || (cfg.acr.length === 0 && cfg.amr.length === 0)) return null;
  if (cfg.acr.length > 0 && (claims.acr === undefined || !cfg.acr.includes(claims.acr))) return null;
  if (cfg.amr.length > 0 && !(claims.amr ?? []).some((m) => cfg.amr.includes(m))) return null;
  if (claims.auth_time === undefined || !Number.isFinite(claims.auth_time)) return null;
  return claims.auth_time * 1000;
}

/** The identity batch's step-up handling for a deciding phase (StepUp in state/store.ts). */
export function stepUpFor(claims: VerifiedClaims | null, cfg: StepUpConfig): StepUp {
  const authTimeMs = stepUpAuthTimeMs(claims, cfg);
  const stepUp: StepUp = { relax: cfg.relax, creditMs: cfg.creditMs };
  if (authTimeMs !== null) stepUp.clear = { authTimeMs, skewMs: cfg.clockSkewMs };
  return stepUp;
}
