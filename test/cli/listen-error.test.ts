import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ListenError } from '../../src/listen-error.js';

const sysErr = (code: string, message: string) => Object.assign(new Error(message), { code });

test('ListenError: one line naming the setting, the address and the cause in words', () => {
  const at = { host: '127.0.0.1', port: 443 };
  assert.equal(
    new ListenError('VIGIL_ADMIN_ADDRESS', at, sysErr('EACCES', 'listen EACCES: permission denied 127.0.0.1:443')).message,
    'VIGIL_ADMIN_ADDRESS=127.0.0.1:443: cannot listen: permission denied (ports below 1024 need privileges; port 443 was asked for)',
  );
  // grpc-js wraps the system error in a message of its own, without a code.
  assert.equal(
    new ListenError('VIGIL_GRPC_ADDRESS', { host: '192.0.2.1', port: 50051 }, new Error('No address added out of total 1 resolved errors: [listen EADDRNOTAVAIL: address not available 192.0.2.1:50051]')).message,
    'VIGIL_GRPC_ADDRESS=192.0.2.1:50051: cannot listen: 192.0.2.1 is not an address of this machine',
  );
  assert.equal(
    new ListenError('VIGIL_GRPC_ADDRESS', { host: '::1', port: 7000 }, new Error('something else entirely')).message,
    'VIGIL_GRPC_ADDRESS=[::1]:7000: cannot listen: something else entirely',
  );
});
