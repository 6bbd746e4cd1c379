/** Typed errors; only the stream handler (and main for start-up) catches them (house style, habit 8). */

/** Settings or policy that cannot be used. `problems` lists every problem found, not just the first. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

/** The state store could not answer in time (timeout, connection error, open breaker). */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  /** Redis certainly ran nothing of the call (a refused or unreachable node): it may be sent again. */
  notApplied = false;
  constructor(
    readonly reason: 'timeout' | 'error' | 'breaker-open',
    message: string,
  ) {
    super(message);
  }
}

/** The ext_proc peer broke the protocol (message out of order, no field set, over a cap). */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    readonly kind: string,
    message: string,
  ) {
    super(message);
  }
}

/** A replay input that cannot be read at all (unknown format, random bytes, unreadable header). Partial
 * reads are not errors: they come back with their problems counted. The CLI prints the message, never a stack. */
export class ReplayInputError extends Error {
  override readonly name = 'ReplayInputError';
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`${file}: ${detail}`);
  }
}
