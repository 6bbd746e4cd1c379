/**
 * An independent count of HTTP requests and responses: Wireshark's dissector (Debian's `tshark`),
 * split by transport so it compares with what vigil replays (TCP) and what it only counts (UDP).
 * Each field occurrence is one message, so pipelined requests in one frame all count. Requests are
 * counted by `http.request.method`, not `http.request`: Wireshark files SSDP's `NOTIFY * HTTP/1.1`
 * under `http.notification` instead of `http.request`, while vigil counts every request line.
 */
import { spawnSync } from 'node:child_process';

export interface DissectorCounts {
  tcpRequests: number;
  tcpResponses: number;
  udpRequests: number;
}

function count(file: string, filter: string, field: string): number {
  const r = spawnSync('tshark', ['-r', file, '-Y', filter, '-T', 'fields', '-e', field, '-E', 'occurrence=a', '-E', 'aggregator=,'], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.error) throw new Error(`tshark could not run (${(r.error as NodeJS.ErrnoException).code ?? r.error.message}): install Debian's tshark package`);
  if (r.status !== 0) throw new Error(`tshark failed on ${file}: ${r.stderr.trim().split('\n')[0]}`);
  return r.stdout.split('\n').filter((l) => l !== '').reduce((n, l) => n + l.split(',').length, 0);
}

export function tsharkCounts(file: string): DissectorCounts {
  return {
    tcpRequests: count(file, 'http.request.method && tcp', 'http.request.method'),
    tcpResponses: count(file, 'http.response && tcp', 'http.response.code'),
    udpRequests: count(file, 'http.request.method && udp', 'http.request.method'),
  };
}

export function tsharkVersion(): string {
  const r = spawnSync('tshark', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? (r.stdout.split('\n')[0] ?? '').trim().replace(/\.$/, '') : 'not installed';
}
