/**
 * The exit codes a command's `--help` shows, in one format (README "Exit codes" has the
 * meaning of each code; test/hostile/help.test.ts checks every command has this section).
 */
const USAGE = 'usage or input error (a bad flag or argument, an unknown device, an unreadable or malformed file, a sysfs root without sys/); nothing was written';
const RUNTIME = 'runtime failure';

export function exitCodes(codes: {0: string; 1?: string; 3?: string; 4?: string; 5?: string; interrupted?: string}): string {
  const lines: [number, string][] = [[0, codes[0]]];
  if (codes[1] !== undefined) lines.push([1, codes[1]]);
  lines.push([2, USAGE]);
  lines.push([3, codes[3] ?? RUNTIME]);
  if (codes[4] !== undefined) lines.push([4, codes[4]]);
  if (codes[5] !== undefined) lines.push([5, codes[5]]);
  const out = lines.map(([code, text]) => `  ${code}  ${text}`);
  // 128 + the signal, as a shell reports it: SIGHUP, SIGINT, SIGTERM.
  if (codes.interrupted !== undefined) out.push(`  129, 130, 143  ${codes.interrupted}`);
  return `\n\nExit codes:\n${out.join('\n')}`;
}
