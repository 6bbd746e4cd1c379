import type { RequestFacts } from '../request/types.js';
import type { SubjectKind } from './types.js';

/** The state subject (and Redis hash tag) for a request: the identity pseudonym or the client IP. */
export function subjectOf(kind: SubjectKind, facts: RequestFacts): string {
  switch (kind) {
    case 'identity':
      return facts.identity.id;
    case 'client-ip':
      return `cip:${facts.clientIp}`;
  }
}
