import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import type { Clock } from '../../src/clock.js';
import type { Vigil } from '../../src/main.js';
import { startVigil } from '../../src/main.js';
import { createLogger } from '../../src/obs/logger.js';
import type { Policy } from '../../src/policy/policy.js';
import { parseSettings } from '../../src/settings.js';
import type { SharedStore } from '../../src/state/store.js';

/** Captures pino's JSON lines. */
export class LogCapture extends Writable {
  readonly lines: Array<Record<string, unknown>> = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) this.lines.push(JSON.parse(line) as Record<string, unknown>);
    cb();
  }
  find(msg: string): Array<Record<string, unknown>> {
    return this.lines.filter((l) => l.msg === msg);
  }
}

export interface AdminRequest {
  method?: string;
  headers?: Record<string, string>;
}

export interface TestVigil extends Vigil {
  target: string;
  logs: LogCapture;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  /** An admin HTTP request (GET unless told otherwise); `headers` are the response's. */
  admin(path: string, init?: AdminRequest): Promise<{ status: number; body: string; headers: Headers }>;
}

/** vigil in-process on loopback port 0, logs captured, its own registry. */
export async function startTestVigil(
  opts: { env?: Record<string, string>; clock?: Clock; store?: SharedStore; policy?: Policy } = {},
): Promise<TestVigil> {
  const settings = parseSettings({
    VIGIL_GRPC_ADDRESS: '127.0.0.1:0',
    VIGIL_ADMIN_ADDRESS: '127.0.0.1:0',
    VIGIL_KEY_SECRET: 'test-secret-0123456789abcdef',
    VIGIL_DRAIN_TIMEOUT_MS: '200',
    ...opts.env,
  });
  const logs = new LogCapture();
  const registry = new Registry();
  const vigil = await startVigil({
    settings,
    logger: createLogger('debug', logs),
    registry,
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.store ? { store: opts.store } : {}),
    ...(opts.policy ? { policy: opts.policy } : {}),
  });
  const admin = async (path: string, init: AdminRequest = {}) => {
    const res = await fetch(`http://127.0.0.1:${vigil.adminPort}${path}`, {
      method: init.method ?? 'GET',
      ...(init.headers ? { headers: init.headers } : {}),
    });
    return { status: res.status, body: await res.text(), headers: res.headers };
  };
  return {
    ...vigil,
    target: `127.0.0.1:${vigil.grpcPort}`,
    logs,
    admin,
    async metric(name, labels = {}) {
      const m = await registry.getSingleMetric(name)?.get();
      if (!m) return 0;
      let sum = 0;
      for (const v of m.values) {
        if (Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want)) sum += v.value;
      }
      return sum;
    },
  };
}
