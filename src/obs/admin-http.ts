/** Pieces the operator API's routes share (admin-api.ts, admin-rules.ts). */

/** A refusal with its HTTP status: the API answers {"error": message}. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** An absolute time as ISO 8601, or null when it is not a representable time. */
export function iso(ms: number): string | null {
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : null;
}
