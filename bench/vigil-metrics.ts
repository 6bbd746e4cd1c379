/**
 * Reading vigil's /metrics (Prometheus text) from the bench: scrape, sum a counter over label sets,
 * tell whether a metric exists at all (some are newer than the bench and may be missing), and the
 * figures the bench takes before and after every run.
 */
import { get } from 'node:http';

export function scrape(adminPort: number): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port: adminPort, path: '/metrics' }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`/metrics: HTTP ${res.statusCode}`))));
    }).on('error', reject);
  });
}

/** Sum of a counter (or gauge) over the label sets whose label text contains `labelFilter` (all when omitted). */
export function counterSum(text: string, name: string, labelFilter = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    if (labelFilter && !rest.includes(labelFilter)) continue;
    sum += Number(rest.slice(rest.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** The metric is registered (a TYPE line), whether or not it has samples yet. */
export function hasMetric(text: string, name: string): boolean {
  return text.includes(`# TYPE ${name} `);
}

/** The sync loop's round trips (all results): null when this vigil has no such metric. */
export const SYNC_TOTAL = 'vigil_store_sync_total';

export interface VigilCounters {
  decisions: number;
  allowed: number;
  failOpen: number;
  streamErrors: number;
  /** null when the metric does not exist. */
  syncs: number | null;
  syncErrors: number | null;
  syncSubjects: number | null;
}

export function readCounters(text: string): VigilCounters {
  const sync = hasMetric(text, SYNC_TOTAL);
  return {
    decisions: counterSum(text, 'vigil_decisions_total'),
    allowed: counterSum(text, 'vigil_decisions_total', 'action="allow"'),
    failOpen: counterSum(text, 'vigil_fail_open_total'),
    streamErrors: counterSum(text, 'vigil_stream_errors_total'),
    syncs: sync ? counterSum(text, SYNC_TOTAL) : null,
    syncErrors: sync ? counterSum(text, SYNC_TOTAL, 'result="error"') : null,
    syncSubjects: hasMetric(text, 'vigil_store_sync_subjects_total') ? counterSum(text, 'vigil_store_sync_subjects_total') : null,
  };
}

/** A gauge's value, or null when the metric does not exist. */
export function gauge(text: string, name: string): number | null {
  return hasMetric(text, name) ? counterSum(text, name) : null;
}
