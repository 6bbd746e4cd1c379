import { formatAddress } from './settings.js';

/**
 * A listen address vigil could not bind, as one line that names the setting and the address and says
 * why in words: `VIGIL_GRPC_ADDRESS=127.0.0.1:50051: cannot listen: the port is in use (another process
 * holds it)`. The cause is read from the error's code, or from its text where a library (grpc-js)
 * wraps the system error in a message of its own.
 */
export class ListenError extends Error {
  override readonly name = 'ListenError';
  constructor(
    readonly setting: string,
    readonly address: { host: string; port: number },
    cause: unknown,
  ) {
    super(`${setting}=${formatAddress(address)}: cannot listen: ${listenCause(cause, address)}`);
  }
}

const CAUSES: Array<[RegExp, (a: { host: string; port: number }) => string]> = [
  [/EADDRINUSE/, () => 'the port is in use (another process, or another vigil, holds it)'],
  [/EACCES|EPERM/, (a) => `permission denied (ports below 1024 need privileges; port ${a.port} was asked for)`],
  [/EADDRNOTAVAIL/, (a) => `${a.host} is not an address of this machine`],
  [/ENOTFOUND|EAI_AGAIN|EAI_NONAME|Name resolution failed/, (a) => `the host name ${a.host} does not resolve (use an IP address, or a name this machine resolves)`],
];

export function listenCause(err: unknown, address: { host: string; port: number }): string {
  const text = `${(err as { code?: unknown })?.code ?? ''} ${(err as Error)?.message ?? String(err)}`;
  for (const [pattern, say] of CAUSES) if (pattern.test(text)) return say(address);
  return (err as Error)?.message ?? String(err);
}
