/**
 * A readable line diff of two texts (the base policy and the learned one, for `--from`): the longest
 * common subsequence of lines, printed as `-`/`+` lines with `@@ line N` headers and up to `context`
 * unchanged lines around each change. Policies are a few hundred lines, so the quadratic table is small.
 */
export function lineDiff(before: string, after: string, context = 2): string {
  const a = before.split('\n');
  const b = after.split('\n');
  const n = a.length;
  const m = b.length;
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  }
  const ops: Array<{ op: ' ' | '-' | '+'; line: string; at: number }> = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) ops.push({ op: ' ', line: a[i++]!, at: j++ });
    else if (i < n && (j === m || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) ops.push({ op: '-', line: a[i++]!, at: j });
    else ops.push({ op: '+', line: b[j]!, at: j++ });
  }
  const show = new Set<number>();
  ops.forEach((o, k) => {
    if (o.op === ' ') return;
    for (let c = Math.max(0, k - context); c <= Math.min(ops.length - 1, k + context); c++) show.add(c);
  });
  const out: string[] = [];
  let last = -2;
  for (const k of [...show].sort((x, y) => x - y)) {
    if (k !== last + 1) out.push(`@@ line ${ops[k]!.at + 1} of the learned policy`);
    out.push(`${ops[k]!.op} ${ops[k]!.line}`);
    last = k;
  }
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}
