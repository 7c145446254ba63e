/** Plain-text rendering for human output (no @oclif/table: it costs 400 ms to import). */

/** Columns padded to the widest cell; the last column is not padded. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** `key: value` lines with aligned values; undefined values are skipped. */
export function fields(pairs: [string, string | number | boolean | undefined | null][], indent = ''): string {
  const shown = pairs.filter(([, v]) => v !== undefined && v !== null && v !== '');
  const width = Math.max(0, ...shown.map(([k]) => k.length));
  return shown.map(([k, v]) => `${indent}${`${k}:`.padEnd(width + 1)} ${String(v)}`).join('\n');
}

export function plural(n: number, word: string, pluralWord = `${word}s`): string {
  return `${n} ${n === 1 ? word : pluralWord}`;
}

/** A value as it appears in a parameter list: JSON, so `"4096"` and `4096` stay distinct. */
export function showValue(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}
