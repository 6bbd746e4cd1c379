import { format } from 'node:util';
import type { Logger } from './logger.js';

type ConsoleLevel = 'log' | 'info' | 'warn' | 'error' | 'debug' | 'trace';
const LEVELS: Record<ConsoleLevel, 'info' | 'warn' | 'error' | 'debug'> = { log: 'info', info: 'info', warn: 'warn', error: 'error', debug: 'debug', trace: 'debug' };

/**
 * Routes what libraries print with `console.*` into the JSON log, so every line `vigil serve` writes
 * is one JSON object. ioredis prints some of its diagnoses this way: a Redis user whose ACL denies
 * INFO ("Skipping the ready check because INFO command fails: NOPERM …"), a password Redis does not
 * need, an unhandled error event. Each becomes a line at the matching level with `source: "console"`
 * and the text as `msg`. Returns a function that puts the console back.
 */
export function bridgeConsole(logger: Logger): () => void {
  const saved = new Map<ConsoleLevel, (...args: unknown[]) => void>();
  for (const [method, level] of Object.entries(LEVELS) as Array<[ConsoleLevel, (typeof LEVELS)[ConsoleLevel]]>) {
    saved.set(method, console[method]);
    console[method] = (...args: unknown[]) => logger[level]({ source: 'console' }, format(...args));
  }
  return () => {
    for (const [method, fn] of saved) console[method] = fn;
  };
}
