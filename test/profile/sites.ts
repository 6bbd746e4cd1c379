/**
 * Synthetic sites for `vigil profile`'s tests, written as real access logs (Apache/Nginx combined, and
 * Envoy JSON) that vigil's readers read like any other. Each site is a few dozen honest callers doing
 * what users of such a site do, deterministic (no randomness), timestamps spread over an hour.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const T0 = Date.UTC(2026, 11, 1, 9, 0, 0);
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

interface Line {
  ms: number;
  ip: string;
  method: string;
  path: string;
  status: number;
  bytes: number;
}

function clf(ms: number): string {
  const d = new Date(ms);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

function combined(lines: Line[]): string {
  return lines
    .sort((a, b) => a.ms - b.ms)
    .map((l) => `${l.ip} - - [${clf(l.ms)}] "${l.method} ${l.path} HTTP/1.1" ${l.status} ${l.bytes} "-" "Mozilla/5.0 (X11; Linux x86_64)"`)
    .join('\n')
    .concat('\n');
}

function envoyJson(lines: Line[]): string {
  return lines
    .sort((a, b) => a.ms - b.ms)
    .map((l) =>
      JSON.stringify({
        start_time: new Date(l.ms).toISOString(),
        method: l.method,
        path: l.path,
        protocol: 'HTTP/1.1',
        response_code: l.status,
        bytes_received: 0,
        bytes_sent: l.bytes,
        duration: 5,
        user_agent: 'app/2.1',
        downstream_remote_address: `${l.ip}:40000`,
      }),
    )
    .join('\n')
    .concat('\n');
}

const ip = (i: number): string => `198.51.100.${10 + i}`;

/**
 * A form login that answers 200 (the form again) on failure and 303 on success, at a path the default
 * policy does not know (/account/signin). 30 users: each opens the form, fails `i % 3` times, then
 * signs in. With `attacker`, one more address guesses 60 times, every guess failing.
 */
export function formLoginSite(dir: string, attacker = false): string {
  const lines: Line[] = [];
  for (let u = 0; u < 30; u++) {
    let t = T0 + u * 90_000;
    lines.push({ ms: t, ip: ip(u), method: 'GET', path: '/account/signin', status: 200, bytes: 4200 });
    for (let f = 0; f < u % 3; f++) lines.push({ ms: (t += 8000), ip: ip(u), method: 'POST', path: '/account/signin', status: 200, bytes: 4300 });
    lines.push({ ms: (t += 8000), ip: ip(u), method: 'POST', path: '/account/signin', status: 303, bytes: 0 });
    lines.push({ ms: (t += 1000), ip: ip(u), method: 'GET', path: '/home', status: 200, bytes: 9000 });
  }
  if (attacker) {
    for (let g = 0; g < 60; g++) lines.push({ ms: T0 + 60_000 + g * 45_000, ip: '203.0.113.66', method: 'POST', path: '/account/signin', status: 200, bytes: 4300 });
  }
  const file = join(dir, attacker ? 'form-login-attacked.log' : 'form-login.log');
  writeFileSync(file, combined(lines));
  return file;
}

/**
 * A JSON API (an Envoy JSON access log): 10 clients; client k reads k + 4 distinct orders by numeric
 * id, all within one minute, and logs in at /api/v1/login, answered 401 on a wrong password (every
 * third client fails once) and 200 otherwise.
 */
export function jsonApiSite(dir: string): string {
  const lines: Line[] = [];
  for (let k = 1; k <= 10; k++) {
    const t = T0 + k * 120_000;
    if (k % 3 === 0) lines.push({ ms: t, ip: ip(k), method: 'POST', path: '/api/v1/login', status: 401, bytes: 60 });
    lines.push({ ms: t + 1000, ip: ip(k), method: 'POST', path: '/api/v1/login', status: 200, bytes: 400 });
    for (let j = 0; j < k + 4; j++) {
      lines.push({ ms: t + 2000 + j * 1000, ip: ip(k), method: 'GET', path: `/api/v1/orders/${1000 + k * 100 + j}`, status: 200, bytes: 800 });
    }
  }
  const file = join(dir, 'json-api.jsonl');
  writeFileSync(file, envoyJson(lines));
  return file;
}

/**
 * An asset-heavy page: 40 visitors load / and its assets (scripts and styles under /assets/, images
 * under /img/, numbered photos included, and /favicon.ico); every tenth visitor also downloads the
 * 5 MB catalogue export.
 */
export function assetSite(dir: string): string {
  const lines: Line[] = [];
  const assets = ['/assets/app.js', '/assets/vendor.js', '/assets/site.css', '/img/logo.png', '/img/hero.jpg', '/img/photos/1234.jpg', '/img/photos/1235.jpg', '/favicon.ico'];
  for (let v = 0; v < 40; v++) {
    const t = T0 + v * 60_000;
    lines.push({ ms: t, ip: ip(v), method: 'GET', path: '/', status: 200, bytes: 12_000 });
    assets.forEach((a, i) => lines.push({ ms: t + 100 + i * 50, ip: ip(v), method: 'GET', path: a, status: 200, bytes: 30_000 }));
    if (v % 10 === 0) lines.push({ ms: t + 5000, ip: ip(v), method: 'GET', path: '/catalogue/export.csv', status: 200, bytes: 5_000_000 });
  }
  const file = join(dir, 'assets.log');
  writeFileSync(file, combined(lines));
  return file;
}
