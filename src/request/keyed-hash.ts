/**
 * Pseudonyms for identities: `<kind>:<first 32 hex chars of HMAC-SHA256(secret, kind + "\0" + raw)>`.
 *
 * Keyed so a leaked state store or log cannot be reversed by hashing guessed keys or IPs; the kind is
 * part of the MAC input so the same raw string under two kinds gives unrelated ids. Strings are
 * hashed as UTF-8 (header values are latin1 byte strings, so this is stable for a given wire value).
 * Identity pseudonyms are remembered by a keyed fingerprint, never by the raw value (pseudonym-cache.ts).
 */

import { createHmac } from 'node:crypto';
import { ConfigError } from '../errors.js';
import { withPseudonymCache } from './pseudonym-cache.js';

export type Pseudonymizer = (kind: string, raw: string) => string;

export const MIN_SECRET_BYTES = 16;

/** Returns a pseudonymizer bound to a copy of `secret`. Throws ConfigError if secret < 16 bytes. */
export function createPseudonymizer(secret: Buffer): Pseudonymizer {
  if (!Buffer.isBuffer(secret) || secret.length < MIN_SECRET_BYTES) {
    throw new ConfigError([`pseudonymization secret must be at least ${MIN_SECRET_BYTES} bytes`]);
  }
  const key = Buffer.from(secret);
  return withPseudonymCache((kind: string, raw: string): string => {
    const mac = createHmac('sha256', key).update(`${kind}\0${raw}`, 'utf8').digest('hex');
    return `${kind}:${mac.slice(0, 32)}`;
  });
}
