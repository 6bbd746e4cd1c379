import { canonicalIp } from '../request/client-ip.js';
import { createPseudonymizer } from '../request/keyed-hash.js';
import { normaliseUsername } from '../request/login.js';
import { decodeSecret } from '../settings.js';

export const PSEUDONYM_HELP = `vigil pseudonym — the pseudonym vigil uses for an identity, username or IP

Usage: printf '%s' VALUE | VIGIL_KEY_SECRET=... vigil pseudonym --kind KIND

KIND is one of: jwt (a verified JWT subject), api-key, session (a session cookie value),
ip (a client IP), user (a login username, matched case-insensitively).

The value is read from standard input (one line; a trailing newline is dropped), never from the
command line, so it stays out of shell history and process lists. VIGIL_KEY_SECRET must be the
secret the running vigil uses. The output (e.g. api-key:3f2a…) is what vigil logs and what a
policy's allow.identities lists.
`;

const KINDS = ['jwt', 'api-key', 'session', 'ip', 'user'] as const;

export async function runPseudonym(argv: string[], stdin: AsyncIterable<Buffer | string> = process.stdin): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(PSEUDONYM_HELP);
    return 0;
  }
  const at = argv.indexOf('--kind');
  const kind = at >= 0 ? argv[at + 1] : undefined;
  if (argv.length !== 2 || !kind || !(KINDS as readonly string[]).includes(kind)) {
    process.stderr.write(`vigil pseudonym: expected --kind ${KINDS.join('|')}\n\n${PSEUDONYM_HELP}`);
    return 2;
  }
  const raw = process.env.VIGIL_KEY_SECRET;
  if (!raw) {
    process.stderr.write('vigil pseudonym: VIGIL_KEY_SECRET must be set to the secret vigil runs with (at least 16 bytes)\n');
    return 2;
  }
  const decoded = decodeSecret(raw);
  if ('problem' in decoded) {
    process.stderr.write(`vigil pseudonym: VIGIL_KEY_SECRET: ${decoded.problem}\n`);
    return 2;
  }
  const secret = decoded.secret;
  let text = '';
  for await (const chunk of stdin) {
    text += chunk.toString();
    if (text.length > 65_536) break;
  }
  let value = text.replace(/\r?\n$/, '');
  if (kind === 'user') value = normaliseUsername(value);
  if (kind === 'ip') {
    const ip = canonicalIp(value.trim());
    if (ip === null) {
      process.stderr.write('vigil pseudonym: not an IP address\n');
      return 1;
    }
    value = ip;
  }
  if (value === '' || value.includes('\n')) {
    process.stderr.write('vigil pseudonym: expected exactly one non-empty line on standard input\n');
    return 1;
  }
  process.stdout.write(`${createPseudonymizer(secret)(kind, value)}\n`);
  return 0;
}
