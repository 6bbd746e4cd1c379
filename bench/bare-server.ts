/**
 * The floor: a grpc-js server of the same ExternalProcessor service that answers every message at once
 * with the matching empty reply (request_headers → {request_headers: {}}) and ends the stream when
 * the client half-closes. No facts, no store, no decision.
 */
import * as grpc from '@grpc/grpc-js';
import type { ProcessingRequest, ProcessingResponse } from '../src/extproc/messages.js';
import { loadWire } from '../src/extproc/proto.js';

export interface BareServer {
  port: number;
  /** Messages answered so far. */
  answered(): number;
  stop(): Promise<void>;
}

export async function startBareServer(host: string, port: number): Promise<BareServer> {
  const server = new grpc.Server();
  let answered = 0;
  server.addService(loadWire().processorService, {
    Process: (call: grpc.ServerDuplexStream<ProcessingRequest, ProcessingResponse>) => {
      call.on('data', (msg: ProcessingRequest) => {
        const kind = msg.request;
        if (!kind) return;
        answered++;
        call.write({ [kind]: {} });
      });
      call.on('end', () => call.end());
      call.on('error', () => undefined);
    },
  });
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    port: bound,
    answered: () => answered,
    stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}
