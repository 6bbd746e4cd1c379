/**
 * Envoy's per-message timeout for tests that are not about timeouts: a minute, so that a loaded machine's
 * slow answer is still an answer and a 504 or a fail-open can only come from what the test is about. A
 * test about timeouts sets its own.
 */
export const PATIENT_MESSAGE_TIMEOUT_MS = 60_000;
