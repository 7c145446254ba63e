/**
 * Issue #12 item 12: the README's command examples are the commands' real output, golden-file
 * style (as mdevctl's compare_to_file). A `...` line in the README stands for any lines, `...`
 * inside a line for any text. VFIO_MIG_REGENERATE_README=1 rewrites every compared block with
 * the real, complete output; review the diff before committing it.
 *
 * Compared: every `$ vfio-mig ...` example that runs on the fixtures. Not compared: the
 * `migrate` examples other than on fixtures (they need a real device: test/vm covers them).
 */
import {mkdtempSync, rmSync, symlinkSync, readFileSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';

import {repoRoot, runCli} from '../helpers/cli.js';

interface Example {
  /** Index in the README's lines of the `$ vfio-mig` line. */
  line: number;
  args: string[];
  /** The lines shown after it, up to the next `$ ` line or the block's end. */
  expected: string[];
  /** From a following `$ echo $?`, if any. */
  exitCode?: number;
  /** Lines taken by the output and the echo, to replace on regeneration. */
  span: number;
}

const README = path.join(repoRoot, 'README.md');

/** The examples of every ```console block that run without a device. */
function examples(lines: string[]): Example[] {
  const found: Example[] = [];
  let inBlock = false;
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i] ?? '';
    if (text.startsWith('```')) {
      inBlock = text === '```console' && !inBlock ? true : false;
      continue;
    }
    if (!inBlock || !text.startsWith('$ vfio-mig ')) continue;
    const args = text.slice('$ vfio-mig '.length).split(/\s+/);
    if (args.includes('|') || (args[0] === 'migrate' && !args.some((a) => a.startsWith('fixtures/')))) continue;
    let j = i + 1;
    const expected: string[] = [];
    while (j < lines.length && !lines[j]!.startsWith('$ ') && !lines[j]!.startsWith('```')) expected.push(lines[j++]!);
    let exitCode: number | undefined;
    if (lines[j] === '$ echo $?') {
      exitCode = Number(lines[j + 1]);
      j += 2;
    }
    found.push({line: i, args, expected, span: j - i - 1, ...(exitCode === undefined ? {} : {exitCode})});
  }
  return found;
}

/** `...` lines match any lines (none included); `...` in a line matches any text. */
function matches(expected: string[], actual: string[]): boolean {
  const lineMatches = (e: string, a: string) =>
    e.includes('...') ? new RegExp(`^${e.split('...').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`).test(a) : e === a;
  const memo = new Map<string, boolean>();
  const at = (i: number, j: number): boolean => {
    const key = `${i},${j}`;
    if (memo.has(key)) return memo.get(key)!;
    let ok: boolean;
    if (i === expected.length) ok = j === actual.length;
    else if (expected[i]!.trim() === '...') ok = at(i + 1, j) || (j < actual.length && at(i, j + 1));
    else ok = j < actual.length && lineMatches(expected[i]!, actual[j]!) && at(i + 1, j + 1);
    memo.set(key, ok);
    return ok;
  };
  return at(0, 0);
}

describe("item 12: the README's examples are the real output", () => {
  const lines = readFileSync(README, 'utf8').split('\n');
  const all = examples(lines);
  // Examples run in a scratch directory holding the fixtures, so `--out FILE` writes there.
  const cwd = mkdtempSync(path.join(tmpdir(), 'vfio-mig-readme-'));
  symlinkSync(path.join(repoRoot, 'fixtures'), path.join(cwd, 'fixtures'));
  afterAll(() => rmSync(cwd, {recursive: true, force: true}));

  const results = all.map((ex) => {
    let actual: string[] | undefined;
    let code: number | null | undefined;
    const run = () => {
      if (actual === undefined) {
        const r = runCli(ex.args, {cwd});
        actual = (r.stdout + r.stderr).replace(/\n$/, '').split('\n');
        code = r.code;
      }
      return {actual, code};
    };
    return {ex, run};
  });

  it('finds the examples', () => {
    expect(all.length).toBeGreaterThanOrEqual(10);
  });

  it.each(results.map((r) => [r.ex.args.join(' '), r] as const))('$ vfio-mig %s', (_name, r) => {
    const {actual, code} = r.run();
    if (process.env.VFIO_MIG_REGENERATE_README) return;
    expect({output: matches(r.ex.expected, actual) ? r.ex.expected : actual}).toEqual({output: r.ex.expected});
    expect(code).toBe(r.ex.exitCode ?? 0);
  });

  if (process.env.VFIO_MIG_REGENERATE_README) {
    it('regenerates README.md', () => {
      const out = [...lines];
      for (const r of [...results].reverse()) {
        const {actual, code} = r.run();
        const replacement = [...actual, ...(code === 0 ? [] : ['$ echo $?', String(code)])];
        out.splice(r.ex.line + 1, r.ex.span, ...replacement);
      }
      writeFileSync(README, out.join('\n'));
    });
  }
});
