import type { Logger } from './logger.js';
import { ThrottledLog } from './throttled-log.js';

/**
 * Store errors by name, in the log from the first one: Redis answers with an error code as the first
 * word of its reply (OOM, NOAUTH, WRONGPASS, NOPERM, READONLY, LOADING, BUSY, MASTERDOWN, CLUSTERDOWN, …;
 * the codes are Redis's own, listed at https://redis.io/docs/latest/develop/reference/protocol-spec/#simple-errors),
 * a connection fails with a system code (ECONNREFUSED, ENOTFOUND, …). The first error of each name is
 * logged at once; the same name again at most once per interval, with how many were not logged since.
 * Nothing here holds a key, a value or the Redis URL: only the error's text.
 */
export class StoreErrorLog {
  private readonly throttled: ThrottledLog;

  constructor(logger: Logger, intervalMs = 60_000, now: () => number = () => performance.now()) {
    this.throttled = new ThrottledLog(logger, intervalMs, now);
  }

  /**
   * Logs `err` (seen in `where`: sync, connection, …) unless its name was logged less than an interval
   * ago. `alreadyLogged`: the caller has just logged it itself; only remember the name.
   */
  record(where: string, err: unknown, alreadyLogged = false): void {
    const name = storeErrorName(err);
    const kind = `store-error:${name}`;
    if (alreadyLogged) this.throttled.noteLogged(kind);
    else this.throttled.warn(kind, { store: 'redis', where, error: name, err: errorText(err) }, `store error ${name}`);
  }
}

/** The error's name: Redis's error code, else a system error code, else timeout or error. */
export function storeErrorName(err: unknown): string {
  const text = errorText(err);
  // "redis: OOM command not allowed …", "state store run: redis: NOAUTH …": the first upper-case word after the prefixes.
  const m = /^(?:[\w -]*?: )*([A-Z][A-Z_]{2,})(?=\s|$)/.exec(text);
  if (m) return m[1]!;
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && /^E[A-Z_]+$/.test(code)) return code;
  const sys = /\b(E(?:CONNREFUSED|CONNRESET|NOTFOUND|HOSTUNREACH|NETUNREACH|PIPE|AI_AGAIN|TIMEDOUT))\b/.exec(text);
  if (sys) return sys[1]!;
  return /timed? ?out/i.test(text) ? 'timeout' : 'error';
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
