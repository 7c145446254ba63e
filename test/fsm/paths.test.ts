/**
 * Every row of the reference table (test/fixtures/fsm-paths.txt, a copy of
 * /work/shared/reference/fsm-paths.txt: the kernel's own walks) against path().
 */
import {readFileSync} from 'node:fs';

import {
  MigState,
  type KernelTable,
  type MigStateValue,
  formatFlags,
  formatPath,
  nextState,
  parseState,
  path,
  stateName,
  supportedStates,
} from '../../src/lib/fsm/index.js';

interface Row {
  line: number;
  text: string;
  /** State names as written; the last is `-EINVAL` for a rejected row. */
  tokens: string[];
}

interface Section {
  header: string;
  kernel: KernelTable;
  flags: number;
  flagText: string;
  rows: Row[];
}

function parseReference(text: string): Section[] {
  const sections: Section[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    const header = /^== (latest|v6\.1) migration_flags=(0x[0-9a-f]+) \(([A-Z0-9_|]+)\)$/i.exec(line);
    if (header) {
      sections.push({
        header: line,
        kernel: header[1] === 'latest' ? 'latest' : '6.1',
        flags: Number.parseInt(header[2]!.slice(2), 16),
        flagText: header[3]!,
        rows: [],
      });
      return;
    }
    const current = sections.at(-1);
    if (current === undefined) throw new Error(`fsm-paths.txt:${i + 1}: row before any section header`);
    const tokens = line.split(' -> ');
    if (tokens.length < 2) throw new Error(`fsm-paths.txt:${i + 1}: not a path row: ${line}`);
    current.rows.push({line: i + 1, text: line, tokens});
  });
  return sections;
}

/**
 * The file lists, per section, one row for every (from, to) pair with from != to, both
 * states supported under the section's flags, `from` in state-number order and, within it,
 * `to` in state-number order (STOP, RUNNING, STOP_COPY, RESUMING, RUNNING_P2P, PRE_COPY,
 * PRE_COPY_P2P; ERROR is never listed). A rejected row is written `FROM -> -EINVAL`, without
 * its target: the target is the pair in that row's position of this enumeration. The test
 * asserts the enumeration lines up with every non-rejected row (first and last state), so
 * the inferred targets of the -EINVAL rows are pinned by their neighbours.
 */
function expectedPairs(flags: number, kernel: KernelTable): [MigStateValue, MigStateValue][] {
  const states = supportedStates(flags, kernel);
  const pairs: [MigStateValue, MigStateValue][] = [];
  for (const from of states) for (const to of states) if (from !== to) pairs.push([from, to]);
  return pairs;
}

const fixture = readFileSync(new URL('../fixtures/fsm-paths.txt', import.meta.url), 'utf8');
const sections = parseReference(fixture);

describe('the reference table parses as expected (so an empty parse cannot pass)', () => {
  test('six sections, 126 rows, 3 of them -EINVAL', () => {
    expect(sections.map((s) => `${s.kernel} ${formatFlags(s.flags)} ${s.rows.length}`)).toEqual([
      'latest STOP_COPY 12',
      'latest STOP_COPY|P2P 20',
      'latest STOP_COPY|PRE_COPY 20',
      'latest STOP_COPY|P2P|PRE_COPY 42',
      '6.1 STOP_COPY 12',
      '6.1 STOP_COPY|P2P 20',
    ]);
    const rows = sections.flatMap((s) => s.rows);
    expect(rows).toHaveLength(126);
    expect(rows.filter((r) => r.tokens.at(-1) === '-EINVAL')).toHaveLength(3);
  });

  test('each header names its flags the way formatFlags does', () => {
    for (const s of sections) expect(formatFlags(s.flags)).toBe(s.flagText);
  });

  test('every row count equals n*(n-1) for the n states the flags support', () => {
    for (const s of sections) {
      const n = supportedStates(s.flags, s.kernel).length;
      expect(s.rows).toHaveLength(n * (n - 1));
    }
  });
});

describe.each(sections.map((s) => [s.header, s] as const))('%s', (_header, section) => {
  const pairs = expectedPairs(section.flags, section.kernel);

  test.each(section.rows.map((row, i) => [row.text, row, i] as const))('%s', (_text, row, i) => {
    const pair = pairs[i];
    expect(pair).toBeDefined();
    const [from, to] = pair!;
    expect(parseState(row.tokens[0]!)).toBe(from);
    const result = path(section.flags, from, to, section.kernel);
    if (row.tokens.at(-1) === '-EINVAL') {
      // Inferred target (see expectedPairs): only STOP_COPY -> PRE_COPY / PRE_COPY_P2P are refused.
      expect(row.tokens).toHaveLength(2);
      expect(from).toBe(MigState.STOP_COPY);
      expect([MigState.PRE_COPY, MigState.PRE_COPY_P2P]).toContain(to);
      expect(result.rejected).toBe(true);
      if (!result.rejected) return;
      expect(result.code).toBe('BLOCKED_ARC');
      expect(result.errno).toBe('EINVAL');
      expect(result.kernelHangs).toBe(true);
      expect(result.reason).toMatch(/invalid/);
      // The very first kernel step is refused: no SET is ever issued for it.
      expect(nextState(section.flags, from, to, section.kernel).rejected).toBe(true);
    } else {
      expect(parseState(row.tokens.at(-1)!)).toBe(to);
      expect(result.rejected).toBe(false);
      if (result.rejected) return;
      expect(formatPath(result.states)).toBe(row.text);
      expect(result.arcs).toHaveLength(row.tokens.length - 1);
      // Each arc is one kernel step from where the walk stands towards the final target.
      for (const arc of result.arcs) {
        expect(nextState(section.flags, arc.from, to, section.kernel)).toEqual({rejected: false, next: arc.to});
      }
    }
  });
});

test('the -EINVAL rows are exactly STOP_COPY -> PRE_COPY (0x5) and STOP_COPY -> PRE_COPY, PRE_COPY_P2P (0x7)', () => {
  const rejected = sections.flatMap((s) => {
    const pairs = expectedPairs(s.flags, s.kernel);
    return s.rows.flatMap((row, i) =>
      row.tokens.at(-1) === '-EINVAL' ? [`${s.kernel} 0x${s.flags.toString(16)} ${formatPath(pairs[i]!)}`] : [],
    );
  });
  expect(rejected).toEqual([
    'latest 0x5 STOP_COPY -> PRE_COPY',
    'latest 0x7 STOP_COPY -> PRE_COPY',
    'latest 0x7 STOP_COPY -> PRE_COPY_P2P',
  ]);
});

test('every path() of a supported pair not in the file is a success (the file lists all refusals)', () => {
  for (const s of sections) {
    const listed = new Set(s.rows.map((r) => r.text));
    for (const [from, to] of expectedPairs(s.flags, s.kernel)) {
      const r = path(s.flags, from, to, s.kernel);
      if (r.rejected) expect(listed.has(`${stateName(from)} -> -EINVAL`)).toBe(true);
      else expect(listed.has(formatPath(r.states))).toBe(true);
    }
  }
});
