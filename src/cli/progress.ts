/**
 * A progress line on stderr for long CLI runs (vigil replay; reusable by any command): shown only on a
 * terminal, only once the run has lasted `delayMs`, redrawn at most every `intervalMs`, and cleared by
 * done(), so short runs, pipes, files and CI logs never see it. Driven by update() calls, never by a
 * timer: a run that stops calling it shows its last state, and nothing keeps the process alive.
 *
 *   const p = new Progress({ quiet: args.quiet });
 *   p.start('replaying', exchanges.length, 'exchanges');
 *   for (…) p.update(++played);
 *   p.done();
 */

/** What Progress writes to: process.stderr, or anything with write() and isTTY. */
export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  stream?: ProgressStream;
  /** --quiet: never draw. */
  quiet?: boolean;
  /** Nothing is drawn before the run has lasted this long (default 2000 ms). */
  delayMs?: number;
  /** Least time between two redraws (default 200 ms). */
  intervalMs?: number;
  now?: () => number;
}

export type ProgressUnit = 'bytes' | string;

export class Progress {
  private readonly stream: ProgressStream;
  private readonly enabled: boolean;
  private readonly delayMs: number;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private label = '';
  private total: number | undefined;
  private unit: ProgressUnit = 'bytes';
  private startedAt = 0;
  private drawnAt: number | null = null;

  constructor(opts: ProgressOptions = {}) {
    this.stream = opts.stream ?? process.stderr;
    this.enabled = this.stream.isTTY === true && opts.quiet !== true;
    this.delayMs = opts.delayMs ?? 2000;
    this.intervalMs = opts.intervalMs ?? 200;
    this.now = opts.now ?? (() => performance.now());
  }

  /** A new phase: `label`, out of `total` (bytes by default, or records of the given unit) when known. */
  start(label: string, total?: number, unit: ProgressUnit = 'bytes'): void {
    this.clear();
    this.label = label;
    this.total = total;
    this.unit = unit;
    this.startedAt = this.now();
  }

  /** How far the phase is: bytes read, or records done. */
  update(done: number): void {
    if (!this.enabled) return;
    const t = this.now();
    if (t - this.startedAt < this.delayMs) return;
    if (this.drawnAt !== null && t - this.drawnAt < this.intervalMs) return;
    this.drawnAt = t;
    const line = formatProgress(this.label, done, this.total, this.unit, t - this.startedAt);
    const width = Math.max(20, (this.stream.columns || 80) - 1);
    this.stream.write(`\r${line.length > width ? line.slice(0, width) : line}\x1b[K`);
  }

  /** The phase is over: the line goes, so what follows starts on a clean line. */
  done(): void {
    this.clear();
  }

  private clear(): void {
    if (this.drawnAt !== null) this.stream.write('\r\x1b[K');
    this.drawnAt = null;
  }
}

/** `replaying: 12,345 / 50,000 exchanges (24%), 0:05` or `reading: 1.2 MB / 4.0 MB (30%), 0:03`. */
export function formatProgress(label: string, done: number, total: number | undefined, unit: ProgressUnit, elapsedMs: number): string {
  const amount = (n: number) => (unit === 'bytes' ? formatBytes(n) : n.toLocaleString('en-US'));
  const of = total !== undefined && total > 0 ? ` / ${amount(total)}` : '';
  const what = unit === 'bytes' ? '' : ` ${unit}`;
  const percent = total !== undefined && total > 0 ? ` (${Math.min(100, Math.floor((done / total) * 100))}%)` : '';
  return `${label}: ${amount(done)}${of}${what}${percent}, ${formatElapsed(elapsedMs)}`;
}

function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n / 1000;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

function formatElapsed(ms: number): string {
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}
