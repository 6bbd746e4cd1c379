/**
 * Reads an Apache / nginx access log in the Combined (or Common) Log Format into replayable exchanges.
 * Field layout and escaping: clf-fields.ts; request lines: request-line.ts; times: log-time.ts;
 * the refusal rule: log-lines.ts. docs/replay-logs.md has the full mapping and its limits.
 *
 * One line → one exchange, or one problem and the line is skipped:
 *   bad-log-line      the line does not have the layout (no `[time]`, no quoted request, no status)
 *   not-an-ip         %h is a host name (HostnameLookups On) or junk: vigil keys clients by IP
 *   bad-timestamp     %t is not `dd/Mon/yyyy:HH:MM:SS ±hhmm` or not a real date
 *   bad-status        %>s is not three digits
 *   bad-size          %b is neither digits nor `-`
 *   no-request        %r is `-` (no request line was read)
 *   bad-request-line  %r is not an HTTP request line (binary, TLS handshake, bad method or version)
 * and one problem that keeps the exchange:
 *   partial-line      something after %b is not two quoted fields (e.g. a line cut inside the user
 *                     agent): the exchange is kept without referer and user agent, since a cut value
 *                     would pass for a different client.
 *   bad-header-value  the referer or user agent unescapes to CR, LF, NUL or another control byte: that
 *                     header is dropped (log-exchange.ts, isFieldValue).
 * Header values (and the request line) are latin1 byte strings, as elsewhere in vigil: bytes the server
 * escaped as \xhh come back as the same bytes, so invalid UTF-8 loses nothing.
 *
 * Every exchange has a response (every line has a status), so `requests` = `responses` = exchanges.
 * A line's time is both the request's and the response's; %h is canonicalised (client-ip.ts) so one
 * client is one string; clientPort is null (not logged). Never throws on bad lines; throws
 * ReplayInputError only for a file that is not such a log at all (log-lines.ts, FormatProbe).
 */

import { canonicalIp } from '../../request/client-ip.js';
import type { HeaderPairs, Problem, ReplayExchange, ReplayInput } from '../types.js';
import { splitClfLine } from './clf-fields.js';
import { excerpt, isFieldValue, lineProblem, logInput, recordToExchange } from './log-exchange.js';
import { FormatProbe, logLines, probeLimit, toBytes } from './log-lines.js';
import { parseClfTime } from './log-time.js';
import { classifyRequestLine } from './request-line.js';

export interface CombinedLogOptions {
  /** Leading non-empty lines probed before refusing the file (default 10). */
  probeLines?: number;
}

export function readCombinedLog(text: string | Buffer, file: string, opts: CombinedLogOptions = {}): ReplayInput {
  const probe = new FormatProbe(file, 'a Common/Combined Log Format access log', probeLimit(opts.probeLines));
  const exchanges: ReplayExchange[] = [];
  const problems: Problem[] = [];
  let lines = 0;

  for (const { number, bytes } of logLines(toBytes(text))) {
    lines++;
    const fields = splitClfLine(bytes);
    probe.seen(fields !== null);
    if (!fields) {
      problems.push(lineProblem('bad-log-line', number, `not in Common/Combined Log Format: ${excerpt(bytes)}`));
      continue;
    }
    const fail = (kind: string, what: string): void => {
      problems.push(lineProblem(kind, number, what));
    };

    const clientIp = canonicalIp(fields.host);
    if (clientIp === null) {
      fail('not-an-ip', `client ${JSON.stringify(fields.host)} is not an IP address`);
      continue;
    }
    const tsUs = parseClfTime(fields.time);
    if (tsUs === null) {
      fail('bad-timestamp', `time [${fields.time}] is not dd/Mon/yyyy:HH:MM:SS ±hhmm`);
      continue;
    }
    if (!/^\d{3}$/.test(fields.status)) {
      fail('bad-status', `status ${JSON.stringify(fields.status)} is not three digits`);
      continue;
    }
    if (!/^(\d{1,15}|-)$/.test(fields.size)) {
      fail('bad-size', `size ${JSON.stringify(fields.size)} is neither a byte count nor -`);
      continue;
    }
    const req = classifyRequestLine(fields.request);
    if (req.kind === 'none') {
      fail('no-request', `request line is "${excerpt(fields.request)}": no request was read`);
      continue;
    }
    if (req.kind === 'bad') {
      fail('bad-request-line', `${req.reason}: "${excerpt(fields.request)}"`);
      continue;
    }

    const headers: HeaderPairs = [];
    if (fields.tail === 'combined') {
      for (const [name, value] of [
        ['user-agent', fields.userAgent],
        ['referer', fields.referer],
      ] as const) {
        const text = value?.toString('latin1') ?? '-';
        if (text === '-') continue; // absent, or not logged for this status
        if (isFieldValue(text)) headers.push([name, text]);
        else fail('bad-header-value', `${name} holds control bytes (header dropped)`);
      }
    } else if (fields.tail === 'bad') {
      fail('partial-line', 'unreadable text after the size (kept without referer and user agent)');
    }
    const bodyBytes = fields.size === '-' ? 0 : Number(fields.size);
    exchanges.push(
      recordToExchange({
        line: number,
        clientIp,
        clientPort: null,
        tsUs,
        method: req.method,
        target: req.target,
        version: req.version,
        requestHeaders: headers,
        requestBodyBytes: 0,
        response: { tsUs, status: Number(fields.status), bodyBytes },
      }),
    );
  }
  probe.finish();
  return logInput(file, 'combined-log', exchanges, problems, lines);
}
