import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TestVigil } from '../helpers/vigil.js';
import { startTestVigil } from '../helpers/vigil.js';

/**
 * An ext_proc client built only from Envoy's own definitions (the copy shipped in @grpc/grpc-js-xds),
 * sharing nothing with vigil's proto/ or envoy-sim: vigil's replies must decode and mean the right thing.
 */
const deps = join(dirname(createRequire(import.meta.url).resolve('@grpc/grpc-js-xds/package.json')), 'deps');
const def = protoLoader.loadSync('envoy/service/ext_proc/v3/external_processor.proto', {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: ['envoy-api', 'xds', 'protoc-gen-validate'].map((d) => join(deps, d)),
});
const Upstream = (grpc.loadPackageDefinition(def) as any).envoy.service.ext_proc.v3.ExternalProcessor as grpc.ServiceClientConstructor;

let vigil: TestVigil;
let client: grpc.Client & Record<string, any>;

before(async () => {
  vigil = await startTestVigil({ env: { VIGIL_SHADOW_MODE: 'false' } });
  client = new Upstream(vigil.target, grpc.credentials.createInsecure()) as grpc.Client & Record<string, any>;
});
after(async () => {
  client.close();
  await vigil.shutdown();
});

const hv = (key: string, value: string) => ({ key, raw_value: Buffer.from(value) });

test('request and response headers each get one reply of the matching kind, raw_value only', async () => {
  const call = client.Process();
  const replies: any[] = [];
  call.on('data', (r: any) => replies.push(r));
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  call.on('error', () => undefined);
  call.write({
    request_headers: {
      headers: { headers: [hv(':method', 'GET'), hv(':path', '/v1/x'), hv(':authority', 'a'), hv('x-vigil-action', 'forged')] },
      end_of_stream: true,
    },
    attributes: { 'envoy.filters.http.ext_proc': { fields: { 'source.address': { stringValue: '198.51.100.9:4444' } } } },
  });
  await new Promise((r) => setTimeout(r, 200));
  call.write({ response_headers: { headers: { headers: [hv(':status', '200')] }, end_of_stream: true } });
  await new Promise((r) => setTimeout(r, 200));
  call.end();
  const st = await status;
  assert.equal(st.code, grpc.status.OK);
  assert.deepEqual(replies.map((r) => r.response), ['request_headers', 'response_headers']);
  const mutation = replies[0].request_headers.response.header_mutation;
  assert.deepEqual(mutation.remove_headers, ['x-vigil-action'], 'a client-sent x-vigil-* header is removed');
  for (const r of replies) assert.equal(r.immediate_response ?? null, null);
});
