import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Clock } from '../clock.js';
import type { Pseudonymizer } from '../request/keyed-hash.js';
import type { StateStore } from '../state/store.js';
import { createAdminApi, isAdminApiPath } from './admin-api.js';
import type { ManualRulesAccess } from './admin-api.js';
import type { Logger } from './logger.js';

export interface Readiness {
  /** False while starting or draining: /readyz answers 503. */
  serving: boolean;
  store: { kind: string; up: boolean; breaker: string };
  policy: { checksum: string; source: string };
  shadowMode: boolean;
}

/** /debug/policy: the live policy and how it got there. */
export interface PolicyView {
  checksum: string;
  source: string;
  /** When the live policy was loaded, at start-up or by a reload (ISO 8601). */
  loadedAt: string;
  /** Policy changes seen since start-up: swapped in, or rejected (the live policy stayed). */
  reloads: { ok: number; rejected: number };
  /** The last rejected policy's problems (every one, naming file, detector and field), or null. */
  lastRejected: { at: string; problems: string[] } | null;
  detectors: string[];
  text: string;
}

export interface AdminDeps {
  registry: Registry;
  readiness: () => Readiness;
  /** The live policy's source text, checksum, path and reload history, for /debug/policy. */
  policy: () => PolicyView;
  logger: Logger;
  /** The operator API under /admin/ (admin-api.ts): VIGIL_ADMIN_TOKEN, null = disabled (every /admin/ path 404). */
  adminToken: string | null;
  /** The (guarded) state store the operator API lists, lifts and inspects. */
  store: Pick<StateStore, 'liftPenalty' | 'listPenalties' | 'inspect'>;
  clock: Clock;
  /** The same pseudonymizer the decision path uses, for look-ups by client IP. */
  pseudonymize: Pseudonymizer;
  /** Operators' manual block/allow rules (/admin/rules); absent: those routes answer 404. */
  manual?: ManualRulesAccess;
}

export interface AdminServer {
  port: number;
  close(): Promise<void>;
}

/**
 * The admin HTTP server: /metrics (Prometheus text), /healthz (liveness), /readyz (readiness with
 * the store's health in the body), /debug/policy: unauthenticated, GET/HEAD only. /readyz stays 200
 * while the store is down, because vigil then fails open by design and a sidecar's readiness gates its
 * whole pod; the body says `"store": {"up": false}` and vigil_store_up is 0. It is 503 only when vigil
 * itself is not serving. `/admin` and everything under `/admin/` goes to the operator API
 * (admin-api.ts): bearer-token protected, disabled without VIGIL_ADMIN_TOKEN, and it also takes DELETE.
 */
export function startAdmin(host: string, port: number, deps: AdminDeps): Promise<AdminServer> {
  const api = createAdminApi({
    token: deps.adminToken,
    store: deps.store,
    clock: deps.clock,
    pseudonymize: deps.pseudonymize,
    logger: deps.logger,
    registry: deps.registry,
    ...(deps.manual ? { manual: deps.manual } : {}),
  });
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    (isAdminApiPath(path) ? api(req, res) : handle(req, res, deps)).catch((err) => {
      deps.logger.error({ err: String(err) }, 'admin request failed');
      if (!res.headersSent) send(res, 500, 'text/plain', 'internal error\n');
      else res.destroy();
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}

async function handle(req: IncomingMessage, res: ServerResponse, deps: AdminDeps): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    send(res, 405, 'text/plain', 'method not allowed\n', { allow: 'GET, HEAD' });
    return;
  }
  switch (path) {
    case '/metrics':
      send(res, 200, deps.registry.contentType, await deps.registry.metrics());
      return;
    case '/healthz':
      send(res, 200, 'text/plain', 'ok\n');
      return;
    case '/readyz': {
      const r = deps.readiness();
      send(res, r.serving ? 200 : 503, 'application/json', JSON.stringify(r) + '\n');
      return;
    }
    case '/debug/policy': {
      const p = deps.policy();
      send(res, 200, 'application/json', JSON.stringify(p, null, 2) + '\n');
      return;
    }
    default:
      send(res, 404, 'text/plain', 'not found: try /metrics, /healthz, /readyz, /debug/policy\n');
  }
}

function send(res: ServerResponse, status: number, type: string, body: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', ...extra });
  res.end(body);
}
