/** Plain-text rendering for human output (no @oclif/table: it costs 400 ms to import). */

/** Columns padded to the widest cell; the last column is not padded. Cells are fields: escaped. */
export function table(headers: string[], rawRows: string[][]): string {
  const rows = rawRows.map((r) => r.map(escapeField));
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** `key: value` lines with aligned values (escaped: a value stays on its line); undefined values are skipped. */
export function fields(pairs: [string, string | number | boolean | undefined | null][], indent = ''): string {
  const shown = pairs.filter(([, v]) => v !== undefined && v !== null && v !== '');
  const width = Math.max(0, ...shown.map(([k]) => k.length));
  return shown.map(([k, v]) => `${indent}${`${k}:`.padEnd(width + 1)} ${escapeField(String(v))}`).join('\n');
}

export function plural(n: number, word: string, pluralWord = `${word}s`): string {
  return `${n} ${n === 1 ? word : pluralWord}`;
}

/** A value as it appears in a parameter list: JSON, so `"4096"` and `4096` stay distinct. */
export function showValue(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

/**
 * Control characters, as a terminal would act on them: C0 except newline, DEL, C1 (0x9b is a
 * CSI on some terminals), line/paragraph separators and bidirectional marks and overrides (text
 * that reads differently from what it is).
 */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * Human output made safe for a terminal: every control character but newline is shown as a
 * visible escape (`\x1b`, `\r`, `\u202e`), so text from another host, a file, a stream or
 * sysfs cannot move the cursor, clear a line or ring the bell. The one place this is done:
 * BaseCommand passes every human text and every error message through it.
 */
export function escapeControls(text: string): string {
  return text.replace(CONTROL, (c) => {
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    if (c === '\0') return '\\0';
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/**
 * A foreign string (a host name, a device, a model, a message quoting a file) placed inside one
 * line: escaped as escapeControls does and the newline too, so it cannot start a line of its
 * own that reads as the tool's (`compatible: all good`). escapeControls leaves newlines for
 * multi-line output; this is for the fields within it.
 */
export function escapeField(text: string): string {
  return escapeControls(text).replace(/\n/g, '\\n');
}
