/**
 * Access-log timestamps to microseconds since the Unix epoch (UTC). Pure; null when invalid.
 *
 * - Common Log Format time, `[17/May/2015:10:05:03 +0000]` without the brackets: Apache's `%t`
 *   ("Time the request was received, in the format [18/Sep/2011:19:18:28 -0400]", httpd docs,
 *   mod_log_config, Custom Log Formats) and nginx's `$time_local` ("local time in the Common Log
 *   Format", nginx docs, ngx_http_log_module). Month names are the English abbreviations both servers
 *   write; any UTC offset is applied. One-second resolution.
 * - RFC 3339, Envoy's default `%START_TIME%` rendering (`2016-04-15T20:17:00.310Z`, Envoy docs,
 *   Access logging, Default Format String): `T`, `t` or a space between date and time, any number of
 *   fraction digits (digits past the microsecond stay as a fraction), `Z` or an offset `±hh:mm`
 *   (`±hhmm`, as `%z` writes it, is accepted too).
 */

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

const CLF_TIME = /^(\d{2})\/([A-Z][a-z]{2})\/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/;

const RFC3339_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,12}))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))$/;

/** `17/May/2015:10:05:03 +0000` → µs, or null. */
export function parseClfTime(text: string): number | null {
  const m = CLF_TIME.exec(text);
  if (!m) return null;
  const month = MONTHS.indexOf(m[2] ?? '');
  if (month < 0) return null;
  return toMicros(
    Number(m[3]),
    month,
    Number(m[1]),
    Number(m[4]),
    Number(m[5]),
    Number(m[6]),
    0,
    m[7] === '-' ? -1 : 1,
    Number(m[8]),
    Number(m[9]),
  );
}

/** `2016-04-15T20:17:00.310Z` → µs, or null. */
export function parseRfc3339(text: string): number | null {
  const m = RFC3339_TIME.exec(text);
  if (!m) return null;
  const fraction = m[7] ?? '';
  // Digits after the decimal point as microseconds: '310' → 310000, '123456789' → 123456.789.
  const fracUs = fraction === '' ? 0 : Number(`0.${fraction}`) * 1e6;
  const utc = m[8] !== undefined;
  return toMicros(
    Number(m[1]),
    Number(m[2]) - 1,
    Number(m[3]),
    Number(m[4]),
    Number(m[5]),
    Number(m[6]),
    fracUs,
    utc ? 1 : m[9] === '-' ? -1 : 1,
    utc ? 0 : Number(m[10]),
    utc ? 0 : Number(m[11]),
  );
}

function toMicros(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  fracUs: number,
  offsetSign: number,
  offsetHours: number,
  offsetMinutes: number,
): number | null {
  if (month < 0 || month > 11 || day < 1 || day > daysInMonth(year, month)) return null;
  // Second 60 is a leap second (RFC 3339 §5.6); it is counted as the next second's start.
  if (hour > 23 || minute > 59 || second > 60) return null;
  if (offsetHours > 23 || offsetMinutes > 59) return null;
  const ms = Date.UTC(year, month, day, hour, minute, second);
  if (!Number.isFinite(ms)) return null;
  const offsetMs = offsetSign * (offsetHours * 60 + offsetMinutes) * 60_000;
  return (ms - offsetMs) * 1000 + fracUs;
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
}
