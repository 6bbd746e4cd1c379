/**
 * A micro-benchmark of vigil's own per-request work, without HTTP/2 or grpc-js: the bench request
 * (bench/payload.ts, decoded by the service's own deserializer, as grpc-js hands it over) goes through
 * an ExchangeStream on an in-process fake call, the decision handler main.ts builds (bench policy,
 * embedded store behind the GuardedStore), and the reply is serialized as grpc-js would. Reports CPU
 * µs per request (process.cpuUsage over the timed part) per round, with the median and the minimum
 * of the rounds (on a shared machine the minimum is the round least disturbed by other work).
 *
 *   node dist/bench/decision-loop.js [--requests N] [--rounds R] [--in-flight K]
 *
 * Add `node --cpu-prof` for a profile of the same loop. A profiling tool, not a bench figure.
 */
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { createDecisionHandler } from '../src/extproc/decision-handler.js';
import type { ProcessingRequest, ProcessingResponse } from '../src/extproc/messages.js';
import { loadWire } from '../src/extproc/proto.js';
import type { Call } from '../src/extproc/stream.js';
import { ExchangeStream } from '../src/extproc/stream.js';
import { createLogger } from '../src/obs/logger.js';
import { createMetrics } from '../src/obs/metrics.js';
import { ThrottledLog } from '../src/obs/throttled-log.js';
import { projectRoot } from '../src/paths.js';
import { loadPolicyFile } from '../src/policy/load.js';
import { createPseudonymizer } from '../src/request/keyed-hash.js';
import { GuardedStore } from '../src/state/guarded-store.js';
import { MemoryStore } from '../src/state/memory-store.js';
import { encodeBenchFrame } from './payload.js';
import { median } from './stats.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

const REQUESTS = arg('requests', 20_000);
const ROUNDS = arg('rounds', 10);
const IN_FLIGHT = arg('in-flight', 16);

/** Enough of a grpc-js ServerDuplexStream for ExchangeStream: events in, write/end out. */
class FakeCall extends EventEmitter {
  constructor(
    private readonly serialize: (reply: ProcessingResponse) => Buffer,
    private readonly done: () => void,
  ) {
    super();
  }
  write(reply: ProcessingResponse): boolean {
    this.serialize(reply);
    return true;
  }
  end(): void {
    this.done();
  }
}

async function main(): Promise<void> {
  const method = loadWire().processorService['Process']!;
  const frame = encodeBenchFrame();
  const decode = (): ProcessingRequest => method.requestDeserialize(frame.subarray(5)) as ProcessingRequest;
  const serialize = (reply: ProcessingResponse): Buffer => method.responseSerialize(reply);

  const logger = createLogger('warn');
  const metrics = createMetrics(new Registry());
  const store = new GuardedStore(new MemoryStore(), { timeoutMs: 50, errorThresholdPercent: 50, resetTimeoutMs: 5000 }, metrics, logger);
  const policy = loadPolicyFile(join(projectRoot, 'bench', 'bench-policy.yaml'));
  const handler = createDecisionHandler({
    policy: () => policy,
    store,
    clock: { nowMs: () => Date.now() },
    metrics,
    logger,
    problems: new ThrottledLog(logger),
    shadowMode: false,
    pseudonymize: createPseudonymizer(Buffer.from('bench-secret-0123456789')),
    headerLimits: { maxValueBytes: 16_384, maxHeaders: 256 },
    maxBodyBytes: 65_536,
  });

  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const call = new FakeCall(serialize, resolve);
      new ExchangeStream(call as unknown as Call, handler, 65_536, () => undefined);
      call.emit('data', decode());
      call.emit('end');
    });
  const run = async (n: number): Promise<void> => {
    let left = n;
    const worker = async (): Promise<void> => {
      while (left-- > 0) await one();
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  };

  await run(Math.min(REQUESTS, 50_000)); // warm-up: JIT, store keys
  const perRequest: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const cpu0 = process.cpuUsage();
    await run(REQUESTS);
    const cpu = process.cpuUsage(cpu0);
    perRequest.push((cpu.user + cpu.system) / REQUESTS);
  }
  const text = await metrics.registry.getSingleMetricAsString('vigil_decisions_total');
  console.log(JSON.stringify({ requests: REQUESTS, rounds: ROUNDS, inFlight: IN_FLIGHT, cpuUsPerRequest: perRequest.map((x) => Math.round(x * 100) / 100), median: Math.round(median(perRequest) * 100) / 100, min: Math.round(Math.min(...perRequest) * 100) / 100 }));
  if (!/action="allow"/.test(text)) throw new Error(`the loop did not take the allow path:\n${text}`);
  await store.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
