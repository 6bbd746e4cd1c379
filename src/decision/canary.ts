import { createHash } from 'node:crypto';

/**
 * Canary enforcement (a detector's `enforce_percent`): whether an identity is in the share of
 * identities a detector is enforced on. Stable: the same identity and detector always land on the same
 * side, on every replica and across restarts (the identity is already a keyed pseudonym, and the
 * detector's name salts it, so each detector's canary is a different slice of the population).
 * Raising the percentage only adds identities: every identity enforced at 10 % is enforced at 20 %.
 */
export function inCanary(detector: string, identityId: string, percent: number): boolean {
  if (percent >= 100) return true;
  if (percent <= 0) return false;
  return canaryPoint(detector, identityId) < percent * 100;
}

/** The identity's point in [0, 10000) for this detector (a basis-point position on the rollout). */
export function canaryPoint(detector: string, identityId: string): number {
  const digest = createHash('sha256').update(detector).update('\0').update(identityId).digest();
  return digest.readUInt32BE(0) % 10_000;
}
